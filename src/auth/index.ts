export { openAccess, closedAccess, type AccessController, type AccessRequest, type Action, type AuthRequest, type Principal, type PrincipalScope } from './access.js';
export { createAuth, type AuthSetup, type AuthOptions } from './setup.js';
export { TokenService, type TokenRequest, type TokenResponse } from './token-service.js';
export { parseScope, formatScope } from './scope.js';
export type { AccessPolicy } from './policy.js';
export { RegistryHostNames } from './repository-name.js';
export type { Authenticator } from './authenticator.js';
export { LoginLimiter, type Lockout, type LoginCheck, type LoginLimiterOptions } from './login-limiter.js';
export { parseBasic } from './basic.js';
