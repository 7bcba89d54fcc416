export { openAccess, closedAccess, type AccessController, type AccessRequest, type Action, type AuthRequest, type Principal } from './access.js';
