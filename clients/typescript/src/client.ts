/**
 * A small SPA-style client over the Package Builder BFF, written only against the types
 * that openapi-typescript generates from openapi/bff.json (generated/bff.ts): no
 * hand-written request or response types.
 *
 * `make client-check` type-checks this file (tsc, strict, noEmit) and checks that every
 * operation of the document is called here (check-coverage.mjs looks for
 * `client.<METHOD>("<path>"`). Nothing here is run by the check: no network.
 */
import createClient, { type Middleware } from "openapi-fetch";
import type {
  CreatePackageRequest,
  DraftPatch,
  EndpointCreate,
  ExportRequest,
  PackageView,
  Problem,
  paths,
} from "../generated/bff";

// ---------------------------------------------------------------------------------------
// Client factory: bearer token + partner header on every request, via middleware.
// ---------------------------------------------------------------------------------------

export interface BffSession {
  /** the current access token (called per request, so a refreshed token is picked up) */
  token: () => string | Promise<string>;
  /** the partner the user acts for (sent as X-Preferred-Partner-Id) */
  partnerId: () => string;
}

export function createBffClient(baseUrl: string, session: BffSession) {
  const client = createClient<paths>({ baseUrl });
  const auth: Middleware = {
    async onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${await session.token()}`);
      request.headers.set("X-Preferred-Partner-Id", session.partnerId());
      return request;
    },
  };
  client.use(auth);
  return client;
}

export type BffClient = ReturnType<typeof createBffClient>;

/** Every 4xx/5xx of the BFF is RFC 9457 problem+json (`Problem`). */
export class BffError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(`${status} ${problem.title}: ${problem.detail} (request ${problem.request_id})`);
  }
}

function fail(response: Response, problem: Problem): never {
  throw new BffError(response.status, problem);
}

const newIdempotencyKey = (): string => crypto.randomUUID();

// ---------------------------------------------------------------------------------------
// Probes
// ---------------------------------------------------------------------------------------

export async function health(client: BffClient): Promise<string | undefined> {
  const { data } = await client.GET("/healthz");
  return data?.["status"]; // Record<string, string>: possibly undefined per key
}

export async function readiness(client: BffClient): Promise<unknown> {
  const { data, response } = await client.GET("/readyz");
  // the 200 body has no schema in the document: `unknown`, nothing to read
  return response.ok ? data : undefined;
}

// ---------------------------------------------------------------------------------------
// Customers and events (wizard step 1)
// ---------------------------------------------------------------------------------------

export async function resolveCustomers(client: BffClient, description: string): Promise<(number | string)[]> {
  const { data, error, response } = await client.GET("/v1/customers/resolve", {
    params: { query: { description, language: "de" } },
  });
  if (error) fail(response, error);
  return data.ids; // feed filters.included_customers / excluded_customers
}

export async function searchEvents(
  client: BffClient,
  search: string,
  page = 1,
): Promise<{ id: number | string; label: string }[]> {
  const { data, error, response } = await client.GET("/v1/events", {
    params: { query: { search, page, since: "2024-01-01" } },
  });
  if (error) fail(response, error);
  // the picker's fields are typed; whatever else the upstream sends is there too
  return data.results.map((event) => ({ id: event.id, label: `${event.title ?? event.id} (${event.date ?? "?"})` }));
}

// ---------------------------------------------------------------------------------------
// Drafts (the wizard's server-side state, optimistic concurrency with ETag / If-Match)
// ---------------------------------------------------------------------------------------

export async function listDrafts(client: BffClient): Promise<string[]> {
  const { data, error, response } = await client.GET("/v1/drafts", {
    params: { query: { limit: 20 } },
  });
  if (error) fail(response, error);
  return data.items.map((d) => `${d.id} (${d.step}, v${d.version})`);
}

export async function createDraft(client: BffClient): Promise<{ id: string; etag: string | null }> {
  const { data, error, response } = await client.POST("/v1/drafts", {
    body: { state: { title: "Munich Q3" } }, // `step` has a default: optional
  });
  if (error) fail(response, error);
  return { id: data.id, etag: response.headers.get("ETag") };
}

/** null when the cached copy (etag) is still current (304) */
export async function getDraft(client: BffClient, draftId: string, etag?: string) {
  const { data, error, response } = await client.GET("/v1/drafts/{draft_id}", {
    params: { path: { draft_id: draftId }, header: { "if-none-match": etag } },
  });
  if (response.status === 304) return null; // openapi-fetch reports 304 as an error
  if (error) fail(response, error);
  return { step: data.step, state: data.state, expiresAt: data.expires_at };
}

export async function patchDraft(client: BffClient, draftId: string, etag: string, patch: DraftPatch) {
  const { data, error, response } = await client.PATCH("/v1/drafts/{draft_id}", {
    params: { path: { draft_id: draftId }, header: { "if-match": etag } },
    body: patch,
  });
  if (error) fail(response, error);
  return data.version;
}

export async function replaceDraft(client: BffClient, draftId: string, etag: string) {
  const { data, error, response } = await client.PUT("/v1/drafts/{draft_id}", {
    params: { path: { draft_id: draftId }, header: { "if-match": etag } },
    body: { step: "targeting", state: { event_ids: [101, 102] } },
  });
  if (error) fail(response, error);
  return data.updated_at;
}

export async function deleteDraft(client: BffClient, draftId: string, etag: string): Promise<void> {
  const { error, response } = await client.DELETE("/v1/drafts/{draft_id}", {
    params: { path: { draft_id: draftId }, header: { "if-match": etag } },
  });
  if (error) fail(response, error);
}

export async function submitDraft(client: BffClient, draftId: string) {
  // The draft id is the idempotency key: a double click makes one package.
  const { data, error, response } = await client.POST("/v1/drafts/{draft_id}/submit", {
    params: { path: { draft_id: draftId } },
  });
  if (error) fail(response, error);
  return { packageId: data.id, statusUrl: data.status_url };
}

// ---------------------------------------------------------------------------------------
// Packages
// ---------------------------------------------------------------------------------------

export async function listPackages(client: BffClient, cursor?: string) {
  const { data, error, response } = await client.GET("/v1/packages", {
    params: { query: { status: ["INPROGRESS", "DONE"], q: "munich", limit: 50, cursor } },
  });
  if (error) fail(response, error);
  return {
    rows: data.items.map((p) => ({ id: p.id, title: p.title ?? p.id, events: p.events.length })),
    next: data.next_cursor,
  };
}

export async function createPackage(client: BffClient, request: CreatePackageRequest) {
  const { data, error, response } = await client.POST("/v1/packages", {
    params: { header: { "Idempotency-Key": newIdempotencyKey() } },
    body: request,
  });
  if (error) fail(response, error);
  return data.events_url;
}

export const exampleCreatePackage: CreatePackageRequest = {
  title: "Munich Q3",
  event_ids: [4711, "evt-42"],
  targeting_mode: "lookalike",
  filters: { exclude_ticket_categories: ["staff"], exclude_old_purchases_before: "2023-01-01" },
  // n_top_events / num_packages have server defaults: optional
};

export async function mergePackages(client: BffClient, packageIds: string[]) {
  const { data, error, response } = await client.POST("/v1/packages/merge", {
    params: { header: { "Idempotency-Key": newIdempotencyKey() } },
    body: { package_ids: packageIds },
  });
  if (error) fail(response, error);
  return data.id;
}

export async function getPackage(client: BffClient, packageId: string): Promise<PackageView> {
  const { data, error, response } = await client.GET("/v1/packages/{package_id}", {
    params: { path: { package_id: packageId } },
  });
  if (error) fail(response, error);
  const first = data.clusters[0]; // noUncheckedIndexedAccess: ClusterView | undefined
  if (first && data.actions.can_download) console.debug(first.tc, first.csv_url);
  return data;
}

export async function getPackageStatus(client: BffClient, packageId: string) {
  const { data, error, response } = await client.GET("/v1/packages/{package_id}/status", {
    params: { path: { package_id: packageId } },
  });
  if (error) fail(response, error);
  return { status: data.status, progress: data.progress ?? 0 };
}

export async function watchPackage(client: BffClient, packageId: string) {
  const { data, error, response } = await client.POST("/v1/packages/{package_id}/watch", {
    params: { path: { package_id: packageId } },
  });
  if (error) fail(response, error);
  return data.watching;
}

export async function regeneratePackage(client: BffClient, packageId: string) {
  const { data, error, response } = await client.POST("/v1/packages/{package_id}/regenerate", {
    params: { path: { package_id: packageId }, header: { "Idempotency-Key": newIdempotencyKey() } },
  });
  if (error) fail(response, error);
  return data.results_url;
}

/**
 * Server-sent events over fetch (so the bearer header is sent), as a byte stream.
 * A plain EventSource cannot send headers: open the signed `events_url` the API returned.
 */
export async function packageEvents(client: BffClient, packageId: string, lastEventId?: string) {
  const { data, error, response } = await client.GET("/v1/packages/{package_id}/events", {
    params: { path: { package_id: packageId }, header: { "Last-Event-ID": lastEventId } },
    parseAs: "stream",
  });
  if (error) fail(response, error);
  return response.status === 204 ? null : (response.body?.getReader() ?? null); // 204: nothing to follow
}

export async function downloadCustomerList(client: BffClient, packageId: string, tc: string) {
  const { data, error, response } = await client.GET(
    "/v1/packages/{package_id}/clusters/{tc}/customers.csv",
    { params: { path: { package_id: packageId, tc } }, parseAs: "blob" },
  );
  if (error) fail(response, error);
  return { csv: data, bytes: data.size };
}

// ---------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------

export async function getEvaluation(client: BffClient, packageId: string) {
  const { data, error, response } = await client.GET("/v1/packages/{package_id}/evaluation", {
    params: { path: { package_id: packageId } },
  });
  if (error) fail(response, error);
  return { model: data.settings.model, clusters: data.clusters.map((c) => [c.tc, c.purchase] as const) };
}

export async function updateEvaluation(client: BffClient, packageId: string) {
  const { data, error, response } = await client.PUT("/v1/packages/{package_id}/evaluation", {
    params: { path: { package_id: packageId } },
    body: { attribution_window_days: 30, model: "EVENTS_FROM_PACKAGE", email_sent_date: "2024-05-01" },
  });
  if (error) fail(response, error);
  return data.settings.attribution_window_days;
}

// ---------------------------------------------------------------------------------------
// CRM exports
// ---------------------------------------------------------------------------------------

export async function createExport(client: BffClient, packageId: string, tc: string, request: ExportRequest) {
  const { data, error, response } = await client.POST("/v1/packages/{package_id}/clusters/{tc}/exports", {
    params: { path: { package_id: packageId, tc }, header: { "Idempotency-Key": newIdempotencyKey() } },
    body: request,
  });
  if (error) fail(response, error);
  return { exportId: data.id, status: data.status };
}

export async function getExport(client: BffClient, exportId: string) {
  const { data, error, response } = await client.GET("/v1/exports/{export_id}", {
    params: { path: { export_id: exportId } },
  });
  if (error) fail(response, error);
  const last = data.attempts?.at(-1);
  return { status: data.status, lastOutcome: last?.outcome ?? null };
}

export async function listExports(client: BffClient, packageId?: string, cursor?: string) {
  const { data, error, response } = await client.GET("/v1/exports", {
    params: { query: { package_id: packageId, cursor, limit: 20 } },
  });
  if (error) fail(response, error);
  return { ids: data.items.map((e) => e.id), next: data.next_cursor };
}

// ---------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------

export async function listWebhooks(client: BffClient) {
  const { data, error, response } = await client.GET("/v1/webhooks");
  if (error) fail(response, error);
  return data.items.map((e) => ({ id: e.id, url: e.url, enabled: e.enabled }));
}

/** the signing secret is only returned here and by rotateWebhookSecret */
export async function createWebhook(client: BffClient, endpoint: EndpointCreate) {
  const { data, error, response } = await client.POST("/v1/webhooks", { body: endpoint });
  if (error) fail(response, error);
  return { id: data.id, secret: data.secret };
}

export const exampleWebhook: EndpointCreate = {
  url: "https://partner.example/hooks/bff",
  event_types: ["package.done", "package.failed"],
};

export async function getWebhook(client: BffClient, endpointId: string) {
  const { data, error, response } = await client.GET("/v1/webhooks/{endpoint_id}", {
    params: { path: { endpoint_id: endpointId } },
  });
  if (error) fail(response, error);
  return data.disabled_reason;
}

export async function disableWebhook(client: BffClient, endpointId: string) {
  const { data, error, response } = await client.PATCH("/v1/webhooks/{endpoint_id}", {
    params: { path: { endpoint_id: endpointId } },
    body: { enabled: false },
  });
  if (error) fail(response, error);
  return data.enabled;
}

export async function deleteWebhook(client: BffClient, endpointId: string): Promise<void> {
  const { error, response } = await client.DELETE("/v1/webhooks/{endpoint_id}", {
    params: { path: { endpoint_id: endpointId } },
  });
  if (error) fail(response, error);
}

export async function listWebhookDeliveries(client: BffClient, endpointId: string, cursor?: string) {
  const { data, error, response } = await client.GET("/v1/webhooks/{endpoint_id}/deliveries", {
    params: { path: { endpoint_id: endpointId }, query: { limit: 20, cursor } },
  });
  if (error) fail(response, error);
  return {
    rows: data.items.map((d) => ({ id: d.id, status: d.status, attempts: d.attempts.length })),
    next: data.next_cursor,
  };
}

export async function redeliverWebhook(client: BffClient, endpointId: string, deliveryId: string) {
  const { data, error, response } = await client.POST(
    "/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    { params: { path: { endpoint_id: endpointId, delivery_id: deliveryId } } },
  );
  if (error) fail(response, error);
  return data.status;
}

export async function recoverWebhookDeliveries(client: BffClient, endpointId: string, since: string) {
  const { data, error, response } = await client.POST("/v1/webhooks/{endpoint_id}/recover", {
    params: { path: { endpoint_id: endpointId } },
    body: { since },
  });
  if (error) fail(response, error);
  return { recovering: data.recovering, more: data.more };
}

export async function rotateWebhookSecret(client: BffClient, endpointId: string) {
  const { data, error, response } = await client.POST("/v1/webhooks/{endpoint_id}/rotate-secret", {
    params: { path: { endpoint_id: endpointId } },
  });
  if (error) fail(response, error);
  return { secret: data.secret, previousExpiresAt: data.previous_secret_expires_at };
}

export async function sendTestWebhook(client: BffClient, endpointId: string) {
  const { data, error, response } = await client.POST("/v1/webhooks/{endpoint_id}/test", {
    params: { path: { endpoint_id: endpointId } },
  });
  if (error) fail(response, error);
  return data.message_id;
}

// ---------------------------------------------------------------------------------------
// Activity: every event of the partner, to page through, to poll, or live for the list page
// ---------------------------------------------------------------------------------------

type ActivityEvent = paths["/v1/activity"]["get"]["responses"][200]["content"]["application/json"]["data"][number]["event"];

/** What an event says about a package's state, for the list page (narrowed on `type`). */
export function describeActivity(event: ActivityEvent): string {
  switch (event.type) {
    case "package.status":
      return `${event.data.package_id}: ${event.data.status} ${event.data.progress ?? ""}%`;
    case "package.done":
    case "package.failed":
    case "package.expired":
      return `${event.data.package_id}: ${event.data.status} (${event.data.clusters.length} clusters)`;
    case "export.done":
    case "export.failed":
      return `export ${event.data.export_id}: ${event.data.status}`;
  }
}

/** Every event after `iterator` (none: the oldest kept), page after page, until caught up. */
export async function readActivity(client: BffClient, iterator?: string, packageId?: string) {
  const events: string[] = [];
  let next = iterator;
  for (;;) {
    const { data, error, response } = await client.GET("/v1/activity", {
      params: { query: { iterator: next, package_id: packageId, event_type: ["package.done", "package.status"] } },
    });
    if (error) fail(response, error);
    events.push(...data.data.map((item) => `${item.id} ${describeActivity(item.event)}`));
    next = data.iterator;
    if (data.done) return { events, iterator: next };
  }
}

/** The signed link for an EventSource on the list page (no headers needed). */
export async function activityStreamLink(client: BffClient) {
  const { data, error, response } = await client.GET("/v1/activity/stream-link");
  if (error) fail(response, error);
  return data.stream_url;
}

/** The live activity over fetch (bearer header), as a byte stream. */
export async function activityStream(client: BffClient, lastEventId?: string) {
  const { error, response } = await client.GET("/v1/activity/stream", {
    params: { header: { "Last-Event-ID": lastEventId } },
    parseAs: "stream",
  });
  if (error) fail(response, error);
  return response.body?.getReader() ?? null;
}

/** A named consumer: the server keeps its position, each poll returns the next page. */
export async function pollActivity(client: BffClient, consumer: string) {
  const { data, error, response } = await client.POST("/v1/activity/consumers/{consumer}/poll", {
    params: { path: { consumer }, query: { limit: 100 } },
  });
  if (error) fail(response, error);
  return { ids: data.data.map((item) => item.id), done: data.done };
}

export async function seekActivity(client: BffClient, consumer: string, after: "now" | string) {
  const { data, error, response } = await client.POST("/v1/activity/consumers/{consumer}/seek", {
    params: { path: { consumer } },
    body: { after },
  });
  if (error) fail(response, error);
  return data.iterator;
}

export async function deleteActivityConsumer(client: BffClient, consumer: string) {
  const { error, response } = await client.DELETE("/v1/activity/consumers/{consumer}", {
    params: { path: { consumer } },
  });
  if (error) fail(response, error);
}
