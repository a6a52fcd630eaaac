// The protocols' own JS clients judging agentsim's SSE transcripts (tests/sse/test_js_clients.py).
//
// Input (argv[2]): a JSON file, a list of {name, dialect: "agui" | "vercel", sse}. Output (stdout):
// one JSON object {checked, rejections: [{name, dialect, frame, stage, error, data}]}. The exit code
// is 0 whenever every transcript was judged (rejections are results, not crashes); anything else is
// a broken harness. One process judges every transcript, so the suite pays node's start-up once.
//
// Each transcript goes the way the client library's own consumer takes it:
// - AG-UI: @ag-ui/client's SSE reader (`runHttpRequest` + `parseSSEStream`, what `HttpAgent` uses)
//   splits the bytes into JSON events; each must parse with @ag-ui/core's `EventSchemas` (the
//   discriminated union of every event type, zod), and the sequence must pass @ag-ui/client's
//   `verifyEvents` (the ordering rules `AbstractAgent.runAgent` enforces: RUN_STARTED first,
//   content only inside an open message or call, nothing after RUN_FINISHED, ...).
// - Vercel AI SDK: `parseJsonEventStream` with `uiMessageChunkSchema`, exactly as the SDK's
//   `DefaultChatTransport.processResponseStream` reads a response (a chunk failing the schema is
//   an error there), then `readUIMessageStream` consumed to the end. An `error` chunk is protocol
//   content (the SDK hands its errorText to onError); any other error is a rejection.
// A rejection names the 0-based index of the offending data frame (the SSE event, counted from the
// transcript's first), so the Python side can say which scenario and which frame.

import { readFileSync } from "node:fs";
import { parseSSEStream, runHttpRequest, verifyEvents } from "@ag-ui/client";
import { EventSchemas } from "@ag-ui/core/schemas";
import { parseJsonEventStream, readUIMessageStream, uiMessageChunkSchema } from "ai";
import { from, lastValueFrom, tap, toArray } from "rxjs";

const message = (error) => (error instanceof Error ? error.message : String(error));

function sseResponse(text) {
  return new Response(text, { headers: { "content-type": "text/event-stream" } });
}

async function checkAgui(item, reject) {
  const frames = await lastValueFrom(
    parseSSEStream(runHttpRequest(() => Promise.resolve(sseResponse(item.sse)))).pipe(toArray()),
  );
  const events = [];
  for (const [index, frame] of frames.entries()) {
    const parsed = EventSchemas.safeParse(frame);
    if (!parsed.success) {
      reject(index, "EventSchemas", parsed.error.message, frame);
      return;
    }
    events.push(parsed.data);
  }
  let passed = 0;
  try {
    await lastValueFrom(
      from(events).pipe(
        verifyEvents(),
        tap(() => {
          passed += 1;
        }),
        toArray(),
      ),
    );
  } catch (error) {
    reject(passed, "verifyEvents", message(error), frames[passed]);
  }
}

async function checkVercel(item, reject) {
  const results = parseJsonEventStream({
    stream: sseResponse(item.sse).body,
    schema: uiMessageChunkSchema,
  });
  const chunks = [];
  let index = 0;
  for await (const result of results) {
    if (!result.success) {
      reject(index, "uiMessageChunkSchema", message(result.error), result.rawValue);
      return;
    }
    chunks.push(result.value);
    index += 1;
  }
  const failure = await readMessages(chunks);
  if (failure === undefined) return;
  // Which frame: the shortest prefix that fails (exact, whatever the streams buffer; only paid
  // for a rejected transcript).
  let frame = chunks.length - 1;
  for (let end = 1; end < chunks.length; end += 1) {
    if ((await readMessages(chunks.slice(0, end))) !== undefined) {
      frame = end - 1;
      break;
    }
  }
  reject(frame, "readUIMessageStream", failure, chunks[frame]);
}

// Consume readUIMessageStream over `chunks`; the first error that is not an `error` chunk's own
// errorText, or undefined.
async function readMessages(chunks) {
  const reported = new Set(chunks.filter((c) => c.type === "error").map((c) => c.errorText));
  const source = new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  let failure;
  const onError = (error) => {
    const plain = error instanceof Error && error.constructor === Error;
    if (failure === undefined && !(plain && reported.has(error.message))) failure = message(error);
  };
  let messages = 0;
  try {
    for await (const _ of readUIMessageStream({ stream: source, onError })) messages += 1;
  } catch (error) {
    onError(error);
  }
  if (failure === undefined && chunks.length > 0 && messages === 0) {
    failure = "readUIMessageStream built no message";
  }
  return failure;
}

const items = JSON.parse(readFileSync(process.argv[2], "utf8"));
const rejections = [];
for (const item of items) {
  const reject = (frame, stage, error, data) =>
    rejections.push({ name: item.name, dialect: item.dialect, frame, stage, error, data });
  const check = { agui: checkAgui, vercel: checkVercel }[item.dialect];
  if (check === undefined) throw new Error(`unknown dialect ${item.dialect} for ${item.name}`);
  try {
    await check(item, reject);
  } catch (error) {
    reject(null, "reader", message(error), null);
  }
}
process.stdout.write(JSON.stringify({ checked: items.length, rejections }));
