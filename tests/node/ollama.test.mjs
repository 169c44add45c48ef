// The official Ollama JavaScript client (npm `ollama`) against the real
// `vigil serve` with the embedded default model: list, show, version, chat
// and generate with an image, streamed and not, the "load" request, and
// typed errors as the client's ResponseError with their 4xx status.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Ollama } from "ollama";
import { questions, sample, startServer } from "./harness.mjs";

const KEY = "node-test-key";
let server, client, model;
const [question, expected] = questions["01-red-circle.png"][0];
const image = sample("01-red-circle.png").toString("base64");

before(async () => {
  server = await startServer(["--workers", "1", "--threads", "2", "--api-key", KEY]);
  client = new Ollama({ host: server.url, headers: { Authorization: "Bearer " + KEY } });
});
after(async () => { await server?.stop(); });

test("list, show, ps and version", async () => {
  const { models } = await client.list();
  assert.equal(models.length, 1);
  model = models[0].name;
  assert.match(model, /:latest$/);
  assert.equal(models[0].model, model);
  assert.equal(models[0].details.format, "gguf");
  assert.match(models[0].digest, /^[0-9a-f]{64}$/);
  assert.ok(!Number.isNaN(Date.parse(models[0].modified_at)));
  const show = await client.show({ model });
  assert.ok(show.capabilities.includes("vision"), JSON.stringify(show.capabilities));
  assert.ok(show.model_info["general.architecture"]);
  const ps = await client.ps();
  assert.equal(ps.models[0].name, model);
  const { version } = await client.version();
  assert.match(version, /^\d+\.\d+\.\d+$/);
});

test("chat with an image, not streamed", async () => {
  const r = await client.chat({ model, stream: false, options: { temperature: 0, num_predict: 32 },
                                messages: [{ role: "user", content: question, images: [image] }] });
  assert.equal(r.message.role, "assistant");
  assert.equal(r.message.content.trim(), expected);
  assert.equal(r.done, true);
  assert.equal(r.done_reason, "stop");
  for (const k of ["total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration"]) {
    assert.equal(typeof r[k], "number", k);
  }
  assert.ok(r.eval_count > 0 && r.total_duration > r.eval_duration);
});

test("chat with an image, streamed", async () => {
  const lines = [];
  for await (const part of await client.chat({ model, stream: true,
                                               messages: [{ role: "user", content: question, images: [image] }] })) {
    lines.push(part);
  }
  assert.ok(lines.length >= 2, "a piece per line, then the last line");
  for (const l of lines) {
    assert.equal(l.model, model);
    assert.ok(!Number.isNaN(Date.parse(l.created_at)));
    assert.equal(l.message.role, "assistant");
    assert.equal(typeof l.done, "boolean");
  }
  const last = lines.at(-1);
  assert.equal(last.done, true);
  assert.equal(last.done_reason, "stop");
  assert.ok(last.eval_count > 0);
  assert.ok(lines.slice(0, -1).every((l) => !l.done));
  assert.equal(lines.map((l) => l.message.content).join("").trim(), expected);
});

test("generate with an image, streamed and not", async () => {
  const r = await client.generate({ model, prompt: question, images: [image], stream: false });
  assert.equal(r.response.trim(), expected);
  assert.equal(r.done, true);
  let text = "", last;
  for await (const part of await client.generate({ model, prompt: question, images: [image], stream: true })) {
    text += part.response;
    last = part;
  }
  assert.equal(text.trim(), expected);
  assert.equal(last.done, true);
  assert.equal(last.done_reason, "stop");
});

test("an empty message list or prompt is a load request", async () => {
  const c = await client.chat({ model, messages: [], stream: false });
  assert.equal(c.done, true);
  assert.equal(c.done_reason, "load");
  const g = await client.generate({ model, prompt: "", stream: false });
  assert.equal(g.done_reason, "load");
});

test("a bad image is the client's ResponseError with a 4xx", async () => {
  const notImage = Buffer.from("this is not an image at all").toString("base64");
  await assert.rejects(
    client.chat({ model, stream: true, messages: [{ role: "user", content: "hi", images: [notImage] }] }),
    (e) => e.name === "ResponseError" && e.status_code === 415 && /image/i.test(e.message));
  // A PNG signature with a broken header: invalid_image, 422.
  const broken = Buffer.concat([sample("01-red-circle.png").subarray(0, 20), Buffer.alloc(10)]).toString("base64");
  await assert.rejects(client.generate({ model, prompt: "hi", images: [broken], stream: false }),
                       (e) => e.name === "ResponseError" && e.status_code >= 400 && e.status_code < 500);
});

test("unknown model, missing key: Ollama's error shape", async () => {
  await assert.rejects(client.chat({ model: "llava:13b", messages: [{ role: "user", content: "hi" }], stream: false }),
                       (e) => e.name === "ResponseError" && e.status_code === 404 && /not found/.test(e.message));
  const anon = new Ollama({ host: server.url });
  await assert.rejects(anon.list(), (e) => e.name === "ResponseError" && e.status_code === 401 && typeof e.message === "string");
  // GET / answers probes in plain text.
  const r = await fetch(server.url + "/");
  assert.equal(r.status, 200);
  assert.match(await r.text(), /is running/);
});
