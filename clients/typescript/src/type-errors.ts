/**
 * Mistakes the generated types must reject. Each `@ts-expect-error` fails the build
 * when the line below it does NOT have a type error, i.e. when the generated types
 * became too loose (`any`, optional where required, a lost enum). Type-checked only.
 */
import type { BffClient } from "./client";

export async function mistakes(api: BffClient): Promise<void> {
  // @ts-expect-error path parameter missing
  await api.GET("/v1/packages/{package_id}", { params: { path: {} } });

  // @ts-expect-error path parameter of the wrong type
  await api.GET("/v1/drafts/{draft_id}", { params: { path: { draft_id: 42 } } });

  // @ts-expect-error required query parameter missing
  await api.GET("/v1/customers/resolve", { params: { query: {} } });

  // @ts-expect-error query enum: not a package status
  await api.GET("/v1/packages", { params: { query: { status: ["RUNNING"] } } });

  // @ts-expect-error request body missing a required field (targeting_mode)
  await api.POST("/v1/packages", { body: { title: "t", event_ids: [1] } });

  // @ts-expect-error request body enum: not a draft step
  await api.PUT("/v1/drafts/{draft_id}", { params: { path: { draft_id: "d" } }, body: { step: "done", state: {} } });

  // @ts-expect-error request body enum: not a webhook event type
  await api.POST("/v1/webhooks", { body: { url: "https://x.example", event_types: ["package.started"] } });

  // @ts-expect-error not an operation of the document
  await api.DELETE("/v1/packages/{package_id}", { params: { path: { package_id: "p" } } });

  const { data } = await api.GET("/v1/packages/{package_id}/status", {
    params: { path: { package_id: "p" } },
  });
  if (data) {
    // @ts-expect-error response fields are typed, not `any`
    const progress: string = data.progress;
    void progress;
  }

  const drafts = await api.GET("/v1/drafts");
  if (drafts.data) {
    // @ts-expect-error noUncheckedIndexedAccess: an array element may be undefined
    const first: string = drafts.data.items[0].id;
    void first;
  }
}
