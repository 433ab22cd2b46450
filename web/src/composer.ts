// The composer page: the reference for front-end teams of how a chat composer calls the
// shortcuts service from a browser with gRPC-Web (Connect's grpc-web transport and the code
// `buf generate` writes into ./gen). Bundled by ../build.mjs into ../dist/composer.js,
// which the server embeds and serves at /composer.js.
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import {
  DataOrigin_Origin,
  type RenderResponse,
  ShortcutService,
  type ShortcutMatch,
  type TextRange,
} from "./gen/shortcuts/v1/shortcuts_pb.js";

// --- Demo data: the contacts and conversations of data/demo.json (workspace `demo`). ----
// The API has no call to list contacts (they live in the CRM); a real front-end knows the
// open conversation and its contact already.
const CONTACTS: [string, string][] = [
  ["8b5f4e1e-3c0a-4c5e-9f3e-2a7d1c0b9e11", "Jane Doe (pro plan)"],
  ["0f9d2c44-6a1b-4f7e-8c3d-5e2b7a9f1c22", "Luis García (es)"],
  ["e7b3d9f1-4a6c-4e8b-9d2f-6a8c0e2b4d55", "Camille Dubois (fr)"],
  ["5a7c9e11-2b4d-4f6a-8c1e-3d5f7b9a0c33", "Anonymous visitor (no name, no plan)"],
  ["c3e1a5f7-9b2d-4e6f-8a0c-1d3f5b7e9a44", "Mallory (template syntax in her data)"],
  ["", "none"],
];
const SESSIONS: [string, string, string][] = [
  ["session_4f8a2b6c-1d3e-4a5b-9c7d-8e0f1a2b3c4d", "Where is my order? (Jane)", "8b5f4e1e-3c0a-4c5e-9f3e-2a7d1c0b9e11"],
  ["session_7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4e", "Cambiar de plan (Luis)", "0f9d2c44-6a1b-4f7e-8c3d-5e2b7a9f1c22"],
  ["session_9c2e4a6b-8d0f-4b1c-a3e5-7f9b1d3c5e6f", "Colis en retard (Camille)", "e7b3d9f1-4a6c-4e8b-9d2f-6a8c0e2b4d55"],
  ["", "none", ""],
];
const STARTER_BODY =
  'Hi <<contact.first_name | fallback("there")>>, your <<contact.plan | upper>> plan is active.\n' +
  "{% if session.order_id %}Order <<session.order_id>> is on its way.{% endif %}\n— <<agent.first_name>>";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const workspace = $<HTMLInputElement>("workspace");
const contact = $<HTMLSelectElement>("contact");
const session = $<HTMLSelectElement>("session");
const agent = $<HTMLInputElement>("agent");
const token = $<HTMLInputElement>("token");
const message = $<HTMLTextAreaElement>("message");
const listbox = $<HTMLUListElement>("suggestions");
const listStatus = $("suggestions-status");
const editor = $<HTMLTextAreaElement>("editor-body");

// --- The client: one transport for the page, same origin as the page. -------------------
// The bearer token, when given, goes in `authorization` exactly as with native gRPC.
const auth: Interceptor = (next) => async (req) => {
  if (token.value) req.header.set("authorization", `Bearer ${token.value.trim()}`);
  return next(req);
};
const client = createClient(
  ShortcutService,
  createGrpcWebTransport({ baseUrl: location.origin, interceptors: [auth] }),
);
// Every call carries a deadline (sent as grpc-timeout): a composer must never hang.
const TIMEOUT_MS = 5000;

/** What the caller sends besides the shortcut: the same for renders and previews. */
function renderContext() {
  return {
    workspaceId: workspace.value.trim(),
    contactId: contact.value,
    sessionId: session.value,
    // google.protobuf.Struct is a plain JSON object in @bufbuild/protobuf v2.
    agent: { first_name: agent.value },
  };
}

/** "INVALID_ARGUMENT: …" for a failed call; cancelled calls give null. */
function describeError(error: unknown): string | null {
  const e = ConnectError.from(error);
  if (e.code === Code.Canceled) return null;
  return `${Code[e.code]}: ${e.rawMessage}`;
}

// --- Typeahead ----------------------------------------------------------------------------
let matches: ShortcutMatch[] = [];
let active = -1;
let searchAbort: AbortController | undefined;

/** The `!word` being typed just before the caret, with where it starts. */
function bangAtCaret(): { start: number; query: string } | null {
  const before = message.value.slice(0, message.selectionStart);
  const found = /(^|\s)!([\p{L}\p{N}_-]*)$/u.exec(before);
  if (!found) return null;
  return { start: before.length - found[2].length - 1, query: found[2] };
}

/** `text` as nodes, the ranges (UTF-16 offsets, as the API sends them) in <mark>. */
function highlighted(text: string, ranges: TextRange[]): Node[] {
  const nodes: Node[] = [];
  let at = 0;
  for (const r of [...ranges].sort((a, b) => a.start - b.start)) {
    if (r.start < at || r.end > text.length) continue;
    if (r.start > at) nodes.push(document.createTextNode(text.slice(at, r.start)));
    const mark = document.createElement("mark");
    mark.textContent = text.slice(r.start, r.end);
    nodes.push(mark);
    at = r.end;
  }
  if (at < text.length) nodes.push(document.createTextNode(text.slice(at)));
  return nodes;
}

function closeList() {
  matches = [];
  active = -1;
  listbox.hidden = true;
  listbox.replaceChildren();
  message.setAttribute("aria-expanded", "false");
  message.removeAttribute("aria-activedescendant");
}

function showMatches(found: ShortcutMatch[]) {
  matches = found;
  active = -1;
  message.removeAttribute("aria-activedescendant");
  listbox.replaceChildren(
    ...found.map((m, i) => {
      const li = document.createElement("li");
      li.id = `option-${i}`;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      const bang = document.createElement("span");
      bang.className = "bang";
      bang.append("!", ...highlighted(m.bang, m.bangHighlights));
      const title = document.createElement("span");
      title.className = "title";
      title.append(...highlighted(m.title, m.titleHighlights));
      const preview = document.createElement("span");
      preview.className = "preview";
      preview.append(...highlighted(m.preview, m.previewHighlights));
      li.append(bang, title, preview);
      // mousedown, not click: the textarea keeps the focus.
      li.addEventListener("mousedown", (event) => {
        event.preventDefault();
        choose(i);
      });
      return li;
    }),
  );
  listbox.hidden = found.length === 0;
  message.setAttribute("aria-expanded", String(found.length > 0));
  listStatus.textContent =
    found.length === 0
      ? "No shortcut matches."
      : `${found.length} ${found.length === 1 ? "shortcut matches" : "shortcuts match"}; use the arrow keys.`;
}

function setActive(index: number) {
  if (matches.length === 0) return;
  active = (index + matches.length) % matches.length;
  listbox.querySelectorAll('[role="option"]').forEach((li, i) => {
    li.setAttribute("aria-selected", String(i === active));
  });
  const option = $(`option-${active}`);
  message.setAttribute("aria-activedescendant", option.id);
  option.scrollIntoView({ block: "nearest" });
}

async function search() {
  const bang = bangAtCaret();
  searchAbort?.abort();
  if (!bang) {
    closeList();
    listStatus.textContent = "";
    return;
  }
  searchAbort = new AbortController();
  try {
    const reply = await client.searchShortcuts(
      { workspaceId: workspace.value.trim(), query: bang.query, limit: 8 },
      { signal: searchAbort.signal, timeoutMs: TIMEOUT_MS },
    );
    showMatches(reply.matches);
  } catch (error) {
    const text = describeError(error);
    if (text !== null) {
      closeList();
      listStatus.textContent = text;
    }
  }
}

/** Renders the chosen shortcut and puts its text in place of the `!word`. */
async function choose(index: number) {
  const chosen = matches[index];
  const bang = bangAtCaret();
  closeList();
  if (!chosen || !bang) return;
  const errorBox = $("render-error");
  errorBox.hidden = true;
  try {
    const reply = await client.renderShortcut(
      { ...renderContext(), shortcut: { case: "bang", value: chosen.bang } },
      { timeoutMs: TIMEOUT_MS },
    );
    const caret = message.selectionStart;
    message.value = message.value.slice(0, bang.start) + reply.text + message.value.slice(caret);
    const end = bang.start + reply.text.length;
    message.setSelectionRange(end, end);
    showRender(chosen, reply);
  } catch (error) {
    errorBox.textContent = describeError(error) ?? "";
    errorBox.hidden = false;
  }
}

/** Chips naming the placeholders a render could not fill. */
function placeholderChips(reply: RenderResponse): Node[] {
  const chips: Node[] = [];
  const add = (paths: string[], kind: "missing" | "defaulted", label: string) => {
    if (paths.length === 0) return;
    const p = document.createElement("p");
    p.append(`${label}: `);
    for (const path of paths) {
      const chip = document.createElement("span");
      chip.className = `chip ${kind}`;
      chip.textContent = path;
      p.append(chip);
    }
    chips.push(p);
  };
  add(reply.missing, "missing", "Missing (printed empty)");
  add(reply.defaulted, "defaulted", "Defaulted (fallback printed)");
  return chips;
}

/** "3.2 s ago" from a uint64 of milliseconds (a bigint in JavaScript). */
function age(ms: bigint): string {
  if (ms < 1000n) return `${ms} ms ago`;
  return `${(Number(ms) / 1000).toFixed(1)} s ago`;
}

function showRender(chosen: ShortcutMatch, reply: RenderResponse) {
  $("render-result").hidden = false;
  $("render-shortcut").textContent = `!${chosen.bang} (version ${reply.shortcutVersion})`;
  $("reply").textContent = reply.text;
  $("placeholders").replaceChildren(...placeholderChips(reply));
  const rows = reply.dataOrigins.map((o) => {
    const tr = document.createElement("tr");
    // Enums are numbers in JavaScript; the generated enum maps them back to names.
    for (const cell of [o.scope, DataOrigin_Origin[o.origin], age(o.ageMs), o.source]) {
      const td = document.createElement("td");
      td.textContent = cell;
      tr.append(td);
    }
    return tr;
  });
  $("origins").querySelector("tbody")!.replaceChildren(...rows);
}

message.addEventListener("input", () => void search());
message.addEventListener("keydown", (event) => {
  if (listbox.hidden) return;
  switch (event.key) {
    case "ArrowDown":
      event.preventDefault();
      setActive(active + 1);
      break;
    case "ArrowUp":
      event.preventDefault();
      setActive(active - 1);
      break;
    case "Enter":
      if (active >= 0) {
        event.preventDefault();
        void choose(active);
      }
      break;
    case "Escape":
      event.preventDefault();
      closeList();
      break;
  }
});
message.addEventListener("blur", () => closeList());

// --- Editor: live validation and preview ---------------------------------------------------
let editorAbort: AbortController | undefined;
let editorTimer: ReturnType<typeof setTimeout> | undefined;

async function checkEditor() {
  editorAbort?.abort();
  editorAbort = new AbortController();
  const options = { signal: editorAbort.signal, timeoutMs: TIMEOUT_MS };
  const errors = $("editor-errors");
  const preview = $("preview");
  try {
    const checked = await client.validateTemplate(
      { workspaceId: workspace.value.trim(), body: editor.value },
      options,
    );
    errors.replaceChildren(
      ...checked.errors.map((e) => {
        const li = document.createElement("li");
        li.textContent = `line ${e.line}, column ${e.column}: ${e.message}`;
        return li;
      }),
    );
    editor.setAttribute("aria-invalid", String(!checked.valid));
    $("editor-placeholders").textContent = checked.placeholders.length
      ? `Placeholders: ${checked.placeholders.join(", ")}`
      : "";
    if (!checked.valid) {
      preview.textContent = "";
      $("preview-placeholders").replaceChildren();
      return;
    }
    const rendered = await client.renderTemplate({ ...renderContext(), body: editor.value }, options);
    preview.textContent = rendered.text;
    $("preview-placeholders").replaceChildren(...placeholderChips(rendered));
  } catch (error) {
    const text = describeError(error);
    if (text !== null) {
      preview.textContent = "";
      const li = document.createElement("li");
      li.textContent = text;
      errors.replaceChildren(li);
    }
  }
}

function scheduleCheck() {
  clearTimeout(editorTimer);
  editorTimer = setTimeout(() => void checkEditor(), 150);
}

// --- Set-up ---------------------------------------------------------------------------------
for (const [id, label] of CONTACTS) contact.append(new Option(label, id));
for (const [id, label] of SESSIONS) session.append(new Option(label, id));
contact.addEventListener("change", () => {
  // The contact's own conversation, when the demo data has one.
  const own = SESSIONS.find(([, , owner]) => owner === contact.value);
  session.value = own ? own[0] : "";
  scheduleCheck();
});
for (const input of [workspace, session, agent, token, editor]) {
  input.addEventListener("input", scheduleCheck);
}
editor.value = STARTER_BODY;
scheduleCheck();
