// harness.mjs: starts the real `vigil serve` for the host-side node tests,
// the way a user does on this machine (scripts/env.sh runs it where it was
// built), waits for its "listening on" line and for /ready (bounded, no blind
// sleeps), and stops it with SIGTERM, checking it drained and exited 0 and
// that its log has no crash line.
//   VIGIL_BUILD: the build directory (default: <repo>/build).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const build = process.env.VIGIL_BUILD || path.join(repo, "build");
const CRASH_MARKERS = ["AddressSanitizer", "runtime error:", "terminate called", "Segmentation fault", "core dumped"];

export async function startServer(args = [], { readyWithinMs = 60000 } = {}) {
  const logPath = path.join(mkdtempSync(path.join(tmpdir(), "vigil-node-")), "serve.log");
  const log = openSync(logPath, "w");
  const proc = spawn(path.join(repo, "scripts/env.sh"),
                     [path.join(build, "bin/vigil"), "serve", "--host", "127.0.0.1", "--port", "0", ...args],
                     { stdio: ["ignore", "pipe", log] });
  const exited = new Promise((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
  const url = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("no 'listening on' line within 60 s; log:\n" + readFileSync(logPath, "utf8"))), 60000);
    proc.stdout.on("data", (chunk) => {
      out += chunk;
      const m = out.match(/vigil: listening on (\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1].replace(/\/$/, "")); }
    });
    exited.then(() => { clearTimeout(timer); reject(new Error("vigil serve exited early; log:\n" + readFileSync(logPath, "utf8"))); });
  });
  const deadline = Date.now() + readyWithinMs;
  for (;;) {
    const r = await fetch(url + "/ready").catch(() => null);
    if (r && r.status === 200) break;
    if (Date.now() > deadline) throw new Error("not ready within " + readyWithinMs + " ms");
    await new Promise((ok) => setTimeout(ok, 50));  // polling /ready, bounded by the deadline
  }
  return {
    url,
    logPath,
    log: () => readFileSync(logPath, "utf8"),
    async stop() {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 20000);
      const { code } = await exited;
      clearTimeout(timer);
      const text = readFileSync(logPath, "utf8");
      const crash = CRASH_MARKERS.filter((m) => text.includes(m));
      if (code !== 0 || crash.length) throw new Error(`vigil serve exited ${code}, crash lines ${crash}; log:\n` + text.slice(-3000));
    },
  };
}

export function sample(name) { return readFileSync(path.join(repo, "samples", name)); }
export const questions = JSON.parse(readFileSync(path.join(repo, "samples/questions.json"), "utf8"));
