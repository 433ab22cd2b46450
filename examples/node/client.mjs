// A Node client of the shortcuts service, written the way a front-end team would, with
// Connect (`@connectrpc/connect-node`) and the code `buf generate` writes into ./gen
// (`@bufbuild/protobuf` v2). It shows the three things JavaScript users trip over:
//
//   - google.protobuf.Struct (`agent`, `vars`) is a plain JSON object here. (With
//     @grpc/proto-loader it is the wire form {fields: {first_name: {stringValue: "Sam"}}}
//     and a plain object is silently dropped.)
//   - uint64 fields (`version`, `shortcut_version`, `age_ms`) are bigint: `1n`, not `1`.
//   - enums are numbers; the generated enum maps them back to names.
//
// and how to read a failed call's code, message and structured details (google.rpc
// ErrorInfo, BadRequest, PreconditionFailure, QuotaFailure: docs/api.md, "Error details").
//
//   npm ci && node client.mjs [http://127.0.0.1:50051] [grpc|grpc-web]
//
// Prints what it did, and a JSON summary as its last line (tests/e2e/web.rs checks it).
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  PreconditionFailureSchema,
} from "./gen/google/rpc/error_details_pb.js";
import { DataOrigin_Origin, MatchKind, ShortcutService } from "./gen/shortcuts/v1/shortcuts_pb.js";

const baseUrl = process.argv[2] ?? "http://127.0.0.1:50051";
const protocol = process.argv[3] ?? "grpc";
// Native gRPC needs HTTP/2; gRPC-Web (what browsers speak) works over either.
const transport =
  protocol === "grpc-web"
    ? createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })
    : createGrpcTransport({ baseUrl });
const client = createClient(ShortcutService, transport);
const token = process.env.SHORTCUTS_TOKEN;
const options = {
  timeoutMs: 5000,
  headers: token ? { authorization: `Bearer ${token}` } : {},
};
const JANE = "jane.doe@example.com";
const JANE_SESSION = "session_4f8a2b6c-1d3e-4a5b-9c7d-8e0f1a2b3c4d";
const summary = { protocol };

/** A failed call as `CODE_NAME: message`, the way a front-end would show or log it. */
function failure(error) {
  const e = ConnectError.from(error);
  // rawMessage is the server's message as sent; e.message adds the code in brackets.
  const seen = { code: Code[e.code], message: e.rawMessage };
  // The details travel in grpc-status-details-bin; branch on the reason, not the message.
  const info = e.findDetails(ErrorInfoSchema)[0];
  seen.reason = info?.reason;
  seen.metadata = info?.metadata;
  const badRequest = e.findDetails(BadRequestSchema)[0];
  if (badRequest) {
    seen.fields = badRequest.fieldViolations.map((v) => ({ field: v.field, description: v.description }));
  }
  const precondition = e.findDetails(PreconditionFailureSchema)[0];
  if (precondition) {
    seen.preconditions = precondition.violations.map((v) => ({ type: v.type, subject: v.subject }));
  }
  return seen;
}

// 1. Render a stored shortcut. `agent` is a Struct: pass a plain object.
const rendered = await client.renderShortcut(
  {
    workspaceId: "demo",
    shortcut: { case: "bang", value: "refund" },
    contactId: JANE,
    sessionId: JANE_SESSION,
    agent: { first_name: "Sam" },
    vars: { refund_amount: "$42.00" },
  },
  options,
);
console.log(rendered.text);
summary.text = rendered.text;
summary.missing = rendered.missing;
// uint64 → bigint.
summary.shortcutVersionType = typeof rendered.shortcutVersion;
summary.origins = rendered.dataOrigins.map((o) => ({
  scope: o.scope,
  // Enum: a number (2); its name from the generated enum (protobuf-es drops the
  // `ORIGIN_` prefix: "UPSTREAM"; grpcurl and JSON say "ORIGIN_UPSTREAM").
  origin: DataOrigin_Origin[o.origin],
  ageMsType: typeof o.ageMs,
}));

// 2. Typeahead search: enum `kind`, uint64 `version`.
const found = await client.searchShortcuts({ workspaceId: "demo", query: "ref", limit: 3 }, options);
summary.search = found.matches.map((m) => ({
  bang: m.bang,
  kind: MatchKind[m.kind],
  version: m.version.toString(),
}));

// 3. uint64 going in: an update names the version it last saw, as a bigint.
let shortcut;
try {
  shortcut = await client.createShortcut(
    { workspaceId: "demo", bang: "node-example", title: "Node example", body: "Hi <<contact.first_name>>" },
    options,
  );
} catch (error) {
  if (ConnectError.from(error).code !== Code.AlreadyExists) throw error;
  shortcut = await client.getShortcut({ workspaceId: "demo", key: { case: "bang", value: "node-example" } }, options);
}
const updated = await client.updateShortcut(
  { workspaceId: "demo", id: shortcut.id, version: shortcut.version, title: "Node example (updated)" },
  options,
);
summary.versions = [shortcut.version.toString(), updated.version.toString()];
// A write's consistency token: passed to a read, on this replica or any other behind the same
// load balancer, the read sees this write (or newer), never the text it replaced.
const seen = await client.getShortcut(
  { workspaceId: "demo", key: { case: "id", value: shortcut.id }, consistencyToken: updated.consistencyToken },
  options,
);
summary.readYourWrite = { title: seen.title, version: seen.version.toString() };

// 4. Errors: code and message.
try {
  // The version we had is stale now.
  await client.updateShortcut(
    { workspaceId: "demo", id: shortcut.id, version: shortcut.version, title: "again" },
    options,
  );
} catch (error) {
  summary.stale = failure(error);
}
try {
  await client.getShortcut({ workspaceId: "demo", key: { case: "bang", value: "no-such-shortcut" } }, options);
} catch (error) {
  summary.notFound = failure(error);
}
try {
  await client.renderTemplate({ workspaceId: "demo", body: "Hi {% if %}" }, options);
} catch (error) {
  summary.invalid = failure(error);
}
try {
  // A strict render names each placeholder it had no value for.
  await client.renderTemplate(
    { workspaceId: "demo", body: "Hi <<agent.first_name>>, <<vars.coupon>>", contactId: JANE, strict: true },
    options,
  );
} catch (error) {
  summary.strict = failure(error);
}
console.log(JSON.stringify(summary));
