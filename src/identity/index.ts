export { IdentityService, isAccessTokenSecret, type IdentityServiceOptions, type UserView, type AccessTokenView } from './service.js';
export { GrantPolicy, type GrantPolicyOptions } from './grant-policy.js';
export { DbAuthenticator } from './db-authenticator.js';
export * from './schemas.js';
export { createClientBundle, type Bundle, type BundleRequest } from './bundle.js';
