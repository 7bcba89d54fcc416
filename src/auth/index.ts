export { openAccess, closedAccess, type AccessController, type AccessRequest, type Action, type AuthRequest, type Principal } from './access.js';
export { createAuth, type AuthSetup } from './setup.js';
export { TokenService, type TokenRequest, type TokenResponse } from './token-service.js';
export { parseScope, formatScope } from './scope.js';
