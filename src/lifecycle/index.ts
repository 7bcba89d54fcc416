export { LifecycleEnforcer, pushedTags, type LifecycleEnforcerOptions } from './enforcer.js';
export { Retention, type RetentionItem, type RetentionOptions, type RetentionReport, type TagDeleter } from './retention.js';
export { LifecycleRules, describeRule, parseRuleInput, quotaInputSchema, ruleInputSchema, ruleView, type QuotaView, type RuleActor, type RuleView } from './rules.js';
export { lifecycleRoutes } from './routes.js';
export { checkTagPattern, covers, formatAge, formatRuleScope, formatSize, parseAge, parseNamespace, parseRuleScope, parseSize, tagMatches, type RuleScope } from './scope.js';
