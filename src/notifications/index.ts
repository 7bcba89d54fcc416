export { notificationListener, type NotificationListenerOptions } from './listener.js';
export { NotificationDispatcher, type DispatcherOptions, type DispatcherLogger, type DeliveryOutcome } from './dispatcher.js';
export { notificationRoutes, type NotificationRoutesOptions } from './routes.js';
export {
  EventBuilder, manifestReferences, isIgnored, renderBody, NOTIFICATION_EVENT_TYPES, EVENTS_MEDIA_TYPE, CLOUDEVENTS_MEDIA_TYPE, BLOB_MEDIA_TYPE,
  type DistributionEvent, type Descriptor, type NotificationAction, type EventBuilderOptions,
} from './envelope.js';
