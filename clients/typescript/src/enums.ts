/**
 * The named enums are unions of their values, and every place a package status appears is
 * that one union: `tsc` fails when a line marked `@ts-expect-error` type-checks, so a status
 * field that became a plain `string` (or a second, different union) breaks
 * `make client-check`. Type-checked only.
 */
import type {
  AttributionModel,
  DraftStep,
  EndpointUpdate,
  Endpoint,
  ExportStatus,
  PackageAccepted,
  PackageEventData,
  PackageStatus,
  PackageStatusEvent,
  PackageStatusView,
  PackageSummary,
  PackageView,
  WatchView,
  WebhookEventType,
} from "../generated/bff";

// @ts-expect-error not one of the guide's five package statuses
export const bogus: PackageStatus = "BOGUS";

// @ts-expect-error a list row's status is the enum
export const listed: PackageSummary["status"] = "BOGUS";
// @ts-expect-error the results view's status is the enum
export const viewed: PackageView["status"] = "BOGUS";
// @ts-expect-error /status answers the enum
export const polled: PackageStatusView["status"] = "BOGUS";
// @ts-expect-error the 202 of create, merge, regenerate and submit answers the enum
export const accepted: PackageAccepted["status"] = "BOGUS";
// @ts-expect-error the 202 of watch answers the enum
export const watched: WatchView["status"] = "BOGUS";
// @ts-expect-error a Server-Sent `status` event carries the enum
export const streamed: PackageStatusEvent["status"] = "BOGUS";
// @ts-expect-error a package.* webhook payload carries the enum
export const announced: PackageEventData["status"] = "BOGUS";

/** One union, so any place's status goes anywhere a status is expected. */
export function statuses(
  row: PackageSummary,
  view: PackageView,
  status: PackageStatusView,
  event: PackageStatusEvent,
  payload: PackageEventData,
): PackageStatus[] {
  return [row.status, view.status, status.status, event.status, payload.status];
}

/** One endpoint's subscriptions are another's update: one WebhookEventType, not six. */
export function copySubscriptions(from: Endpoint): EndpointUpdate {
  const types: WebhookEventType[] = from.event_types;
  return { event_types: types };
}

// @ts-expect-error not a webhook event type
export const unknownEvent: WebhookEventType = "package.started";
// @ts-expect-error not a draft step
export const unknownStep: DraftStep = "done";
// @ts-expect-error not an export status
export const unknownExport: ExportStatus = "CANCELLED";
// @ts-expect-error not an attribution model
export const unknownModel: AttributionModel = "LAST_TOUCH";
