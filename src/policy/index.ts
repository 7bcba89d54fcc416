export { PolicyEnforcer, type DctSource, type PolicyEnforcerOptions, type PolicyLogger, type RepositoryTrust, type TagTrust } from './enforcer.js';
export { TrustPolicies, parsePolicyInput, policyInputSchema, policyView, type PolicyActor, type PolicyView } from './policies.js';
export { policyRoutes } from './routes.js';
export { formatScope, parseScope, resolvePolicy, type PolicyScope } from './scope.js';
export { decide, type RefusalReason, type Verdict } from './verdict.js';
