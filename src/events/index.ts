export { EventBus, type EventLogger, type ListenerOptions, type ListenerStats } from './bus.js';
export { EventedRegistry } from './evented-registry.js';
export { auditListener, auditRecordOf, AUDITED_TYPES } from './audit-listener.js';
export type { Actor, EventContext, Listener, PreHook, RegistryEvent, RegistryEventType } from './events.js';
