// deploy/ checked without a cluster: `kubectl kustomize` renders the base and
// the GPU overlay, every object is validated against the Kubernetes API
// schemas pinned by npm's kubernetes-models (and the Prometheus Operator's
// for the ServiceMonitor), and the properties docs/deploy.md promises are
// asserted; the systemd unit passes `systemd-analyze verify`.
//   KUBECTL: the kubectl to render with (default: kubectl on PATH).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { parseAllDocuments } from "yaml";
import { Service } from "kubernetes-models/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { repo } from "./harness.mjs";

const MODELS = { Service, Deployment, PodDisruptionBudget, HorizontalPodAutoscaler, ServiceMonitor };
const kubectl = process.env.KUBECTL || "kubectl";

function render(dir) {
  const out = execFileSync(kubectl, ["kustomize", path.join(repo, "deploy/kubernetes", dir)],
                           { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return parseAllDocuments(out).map((d) => d.toJSON()).filter(Boolean);
}

function validateAll(objects) {
  const byKind = {};
  for (const o of objects) {
    const Model = MODELS[o.kind];
    assert.ok(Model, "no schema for kind " + o.kind);
    new Model(o).validate();  // throws with the failing path
    byKind[o.kind] = o;
  }
  assert.deepEqual(Object.keys(byKind).sort(), Object.keys(MODELS).sort());
  return byKind;
}

function checkDeployment(d, drainGraceS) {
  const pod = d.spec.template.spec;
  const c = pod.containers[0];
  assert.equal(c.startupProbe.httpGet.path, "/readyz");
  assert.ok(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold >= 300, "startup allows a slow model load");
  assert.equal(c.livenessProbe.httpGet.path, "/livez");
  assert.equal(c.readinessProbe.httpGet.path, "/readyz");
  const argv = c.args.join(" ");
  assert.match(argv, /--host 0\.0\.0\.0/);
  const drain = Number(c.args[c.args.indexOf("--drain-grace") + 1]);
  assert.equal(drain, drainGraceS);
  const preStop = Number(c.lifecycle.preStop.exec.command.at(-1));
  assert.ok(pod.terminationGracePeriodSeconds > preStop + drain, "grace covers preStop + drain");
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"]);
  assert.ok(c.resources.requests.cpu && c.resources.limits.memory);
  return c;
}

test("kustomize base renders and validates against the pinned schemas", () => {
  const k = validateAll(render("base"));
  checkDeployment(k.Deployment, 30);
  assert.equal(k.HorizontalPodAutoscaler.spec.metrics[0].pods.metric.name, "vigil_queue_depth");
  assert.equal(k.ServiceMonitor.spec.endpoints[0].path, "/metrics");
  const sel = k.Deployment.spec.selector.matchLabels;
  for (const o of [k.Service.spec.selector, k.PodDisruptionBudget.spec.selector.matchLabels,
                   k.ServiceMonitor.spec.selector.matchLabels]) {
    assert.deepEqual(o, sel);
  }
});

test("the validator is live: a wrong type or a missing field fails", () => {
  const [d] = render("base").filter((o) => o.kind === "Deployment");
  assert.throws(() => new Deployment({ ...d, spec: { ...d.spec, replicas: "two" } }).validate());
  const noSelector = structuredClone(d);
  delete noSelector.spec.selector;
  assert.throws(() => new Deployment(noSelector).validate());
});

test("the GPU overlay adds a GPU and keeps every guarantee", () => {
  const k = validateAll(render("overlays/gpu"));
  const c = checkDeployment(k.Deployment, 30);
  assert.equal(c.resources.limits["nvidia.com/gpu"], "1");
  assert.ok(c.args.includes("--gpu-layers"));
  assert.equal(k.HorizontalPodAutoscaler.spec.scaleTargetRef.name, k.Deployment.metadata.name);
});

test("the systemd unit passes systemd-analyze verify", () => {
  // verify checks that ExecStart's binary exists: point /opt/vigil at a
  // scratch prefix holding the built binary.
  const dir = mkdtempSync(path.join(tmpdir(), "vigil-unit-"));
  mkdirSync(path.join(dir, "opt/vigil/bin"), { recursive: true });
  symlinkSync(path.join(process.env.VIGIL_BUILD || path.join(repo, "build"), "bin/vigil"),
              path.join(dir, "opt/vigil/bin/vigil"));
  const unit = readFileSync(path.join(repo, "deploy/systemd/vigil.service"), "utf8");
  for (const d of ["DynamicUser=yes", "ProtectSystem=strict", "ProtectHome=yes", "NoNewPrivileges=yes",
                   "Restart=on-failure", "KillSignal=SIGTERM"]) {
    assert.ok(unit.includes("\n" + d + "\n"), d);
  }
  const stopS = Number(unit.match(/\nTimeoutStopSec=(\d+)/)[1]);
  const drainS = Number(unit.match(/--drain-grace (\d+)/)[1]);
  assert.ok(stopS > drainS, "systemd waits longer than the drain");
  const file = path.join(dir, "vigil.service");
  writeFileSync(file, unit.replaceAll("/opt/vigil", path.join(dir, "opt/vigil")));
  const out = execFileSync("systemd-analyze", ["verify", file], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  assert.equal(out.trim(), "");
});
