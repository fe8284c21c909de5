"""`make deploy-check`: the deployment files are valid, without a cluster, a registry or Docker.

    python deploy/check.py [--renderer auto|python|kustomize] [--self-test]

1. Every kustomization (deploy/base, deploy/overlays/*) is rendered by deploy/render.py and, when
   `kustomize` or `kubectl` is on PATH, by `kustomize build` / `kubectl kustomize` too: both must
   give the same objects (--renderer python skips the binary, --renderer kustomize requires it).
2. Every rendered object, and deploy/base/secret.example.yaml, is validated against the Kubernetes
   JSON schemas of the oldest and newest versions in KUBERNETES_VERSIONS, strictly (unknown fields
   fail), with the schemas the PyPI package kubernetes-validate ships (offline).
3. What the service relies on (see the checks below): probes, graceful shutdown bounds, security
   context, no Secret in the rendered output, references that resolve...
4. docker-compose.yml parses (PyYAML) and keeps its safety rules; the Dockerfile pins its base by
   digest and installs from the lock with hashes.

--self-test breaks copies of the files in a temporary directory, one way at a time, and fails
unless every breakage is caught: it tests this checker.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import image_commands
import render

Obj = dict[str, Any]
ROOT = Path(__file__).resolve().parent.parent
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
SECRET_KEYS = {"BFF_JWT_SECRET", "BFF_LINK_SIGNING_KEY", "BFF_UPSTREAM_SERVICE_TOKEN"}
DEV_ONLY = "dev-only-"  # how a compose default secret says that it is no production secret
# The non-secret settings (docs/operations.md, "Configuration") that the ConfigMap must carry
# (BFF_REDIS_URL or Sentinel).
CONFIG_KEYS = {
    "BFF_UPSTREAM_URL",
    "BFF_DATA_INTEGRATIONS_URL",
    "BFF_POLL_INTERVAL_S",
    "BFF_LIST_REFRESH_S",
    "BFF_PUBLIC_URL",
    "BFF_CORS_ORIGINS",
    "BFF_LOG_FORMAT",
    "BFF_WORKER_METRICS_PORT",
    "BFF_API_METRICS_PORT",
    "BFF_RATE_LIMIT_RPS",
    "BFF_RATE_LIMIT_BURST",
    "BFF_JWT_JWKS_URL",
    "BFF_JWT_ISSUER",
    "BFF_JWT_AUDIENCE",
}
SECRET_LIKE = re.compile(r"SECRET|TOKEN|PASSWORD|SIGNING_KEY|PRIVATE_KEY")


# --- rendering --------------------------------------------------------------------------------


def kustomize_command() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def render_with_binary(command: list[str], directory: Path) -> list[Obj]:
    proc = subprocess.run([*command, str(directory)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise render.RenderError(f"{' '.join(command)} {directory}: {proc.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc is not None]


def compare(directory: Path, ours: list[Obj], theirs: list[Obj], tool: str) -> list[str]:
    a = {render.key(o): o for o in ours}
    b = {render.key(o): o for o in theirs}
    errors = []
    for ident in sorted(set(a) | set(b), key=str):
        if a.get(ident) != b.get(ident):
            diff = difflib.unified_diff(
                yaml.safe_dump(a.get(ident), sort_keys=True).splitlines(),
                yaml.safe_dump(b.get(ident), sort_keys=True).splitlines(),
                "deploy/render.py",
                tool,
                lineterm="",
            )
            errors.append(f"{directory}: {ident} differs between renderers:\n" + "\n".join(diff))
    return errors


def kustomizations(root: Path) -> list[Path]:
    dirs = [root / "deploy" / "base"]
    overlays = root / "deploy" / "overlays"
    if overlays.is_dir():
        dirs += sorted(p for p in overlays.iterdir() if p.is_dir())
    return dirs


# --- schema validation ------------------------------------------------------------------------


def validate_schema(obj: Obj, where: str) -> list[str]:
    errors = []
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(
                f"{where}: {obj['kind']}/{obj['metadata'].get('name')} at {path or '(top)'}"
                f" is invalid for Kubernetes {version}: {exc.message}"
            )
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
            errors.append(
                f"{where}: {obj.get('apiVersion')} {obj.get('kind')}: no schema for "
                f"Kubernetes {version}: {exc}"
            )
    return errors


# --- what the service relies on ---------------------------------------------------------------


def containers(obj: Obj) -> list[Obj]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return list(spec.get("containers", []))


def probe_command(probe: Obj | None) -> str:
    return " ".join((probe or {}).get("exec", {}).get("command", []))


def selector_matches(selector: Obj, labels: Obj) -> bool:
    wanted = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def option_value(args: list[str], option: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == option and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
    return None


def check_objects(
    where: str, objs: list[Obj], secret_example: dict[str, set[str]], overlay: bool, image_cmd: list[str]
) -> list[str]:
    errors: list[str] = []
    err = errors.append
    by_kind: dict[str, list[Obj]] = {}
    for obj in objs:
        by_kind.setdefault(obj["kind"], []).append(obj)
    configmaps = {o["metadata"]["name"]: o.get("data", {}) for o in by_kind.get("ConfigMap", [])}
    deployments = by_kind.get("Deployment", [])

    if "Secret" in by_kind:
        err(
            f"{where}: renders a Secret ({[o['metadata']['name'] for o in by_kind['Secret']]}): secret "
            "values are never committed; create the Secret out of band"
        )
    for name, data in configmaps.items():
        leaked = sorted(k for k in data if k in SECRET_KEYS or SECRET_LIKE.search(k))
        if leaked:
            err(f"{where}: ConfigMap/{name} holds secret-looking keys {leaked}: put them in the Secret")
    bff_maps = [data for data in configmaps.values() if any(k.startswith("BFF_") for k in data)]
    for data in bff_maps:
        missing = sorted(CONFIG_KEYS - set(data))
        if missing:
            err(f"{where}: the BFF ConfigMap lacks {missing}")
        if "BFF_REDIS_URL" not in data and not data.get("BFF_REDIS_SENTINELS"):
            err(f"{where}: the BFF ConfigMap sets neither BFF_REDIS_URL nor BFF_REDIS_SENTINELS")

    def selected_by(kind: str, deployment: Obj) -> list[Obj]:
        labels = deployment["spec"]["template"]["metadata"].get("labels", {})
        return [o for o in by_kind.get(kind, []) if selector_matches(o["spec"].get("selector", {}), labels)]

    def metrics_port_of(dep: Obj, c: Obj, variable: str) -> None:
        """A process's /metrics: a container port named metrics, equal to its setting, and the
        scrape annotations pointing at it (never at the public port)."""
        name, cname = dep["metadata"]["name"], f"Deployment/{dep['metadata']['name']} container {c['name']}"
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
        metrics_ports = {d.get(variable) for d in bff_maps} - {None}
        if "metrics" not in ports:
            err(f"{where}: {cname}: no container port named metrics")
        elif metrics_ports and {str(ports["metrics"])} != metrics_ports:
            expected = sorted(metrics_ports)
            err(f"{where}: {cname}: port metrics {ports['metrics']} is not {variable} {expected}")
        notes = dep["spec"]["template"]["metadata"].get("annotations", {})
        if notes.get("prometheus.io/scrape") != "true" or notes.get("prometheus.io/port") != str(
            ports.get("metrics")
        ):
            err(
                f"{where}: Deployment/{name}: needs the annotations prometheus.io/scrape "
                '"true" and prometheus.io/port = the metrics port'
            )

    for dep in deployments:
        name = dep["metadata"]["name"]
        pod = dep["spec"]["template"]["spec"]
        pod_sc = pod.get("securityContext", {})
        grace = pod.get("terminationGracePeriodSeconds", 30)
        labels = dep["spec"]["template"]["metadata"].get("labels", {})
        if not selector_matches(dep["spec"]["selector"], labels):
            err(f"{where}: Deployment/{name}: the selector does not match the pod template's labels")
        for c in containers(dep):
            cname = f"Deployment/{name} container {c['name']}"
            image = c.get("image", "")
            if overlay and ("/" not in image or image.endswith(":latest") or not re.search(r"[:@]", image)):
                err(f"{where}: {cname}: image {image!r} needs a registry and a tag or digest (images:)")
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in c:
                    err(f"{where}: {cname} has no {probe}")
            res = c.get("resources", {})
            for path in ("requests.cpu", "requests.memory", "limits.memory"):
                section, field = path.split(".")
                if field not in res.get(section, {}):
                    err(f"{where}: {cname} has no resources.{path}")
            sc = c.get("securityContext", {})
            if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
                err(f"{where}: {cname} may run as root (runAsNonRoot)")
            if sc.get("readOnlyRootFilesystem") is not True:
                err(f"{where}: {cname}: readOnlyRootFilesystem must be true")
            if sc.get("allowPrivilegeEscalation") is not False:
                err(f"{where}: {cname}: allowPrivilegeEscalation must be false")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                err(f"{where}: {cname}: capabilities must drop ALL")
            for source in c.get("envFrom", []):
                ref = source.get("configMapRef", {}).get("name")
                if ref and ref not in configmaps:
                    err(f"{where}: {cname}: envFrom ConfigMap {ref!r} is not rendered")
            for var in c.get("env", []):
                if "value" in var and (var["name"] in SECRET_KEYS or SECRET_LIKE.search(var["name"])):
                    err(f"{where}: {cname}: {var['name']} has a literal value: reference the Secret")
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref.get("key") not in secret_example.get(ref.get("name"), set()):
                    err(
                        f"{where}: {cname}: {var['name']} references {ref.get('name')}/{ref.get('key')}, "
                        "which deploy/base/secret.example.yaml does not document"
                    )
            referenced = {v["name"] for v in c.get("env", []) if "secretKeyRef" in v.get("valueFrom", {})}
            if referenced and not SECRET_KEYS <= referenced:
                err(f"{where}: {cname} lacks the Secret references {sorted(SECRET_KEYS - referenced)}")

            command = c.get("command", []) + c.get("args", [])
            if not command:
                command = image_cmd  # what the container runs: the image's CMD
            if command[:1] == ["uvicorn"]:  # the API
                metrics_port_of(dep, c, "BFF_API_METRICS_PORT")
                if command != image_cmd:
                    err(
                        f"{where}: {cname}: runs {command}, not the image's CMD: the API has one entry "
                        "point (Dockerfile, compose and Kubernetes)"
                    )
                timeout = option_value(command, "--timeout-graceful-shutdown")
                if timeout is None:
                    err(
                        f"{where}: {cname}: uvicorn without --timeout-graceful-shutdown waits without "
                        "bound for a slow request (event streams end on SIGTERM, other requests do not)"
                    )
                pre_stop = c.get("lifecycle", {}).get("preStop", {})
                sleep = pre_stop.get("exec", {}).get("command", [])
                sleep_s = int(sleep[1]) if sleep[:1] == ["sleep"] and len(sleep) > 1 else None
                sleep_s = pre_stop.get("sleep", {}).get("seconds", sleep_s)
                if sleep_s is None:
                    err(f"{where}: {cname}: no preStop sleep (endpoints must go before the shutdown)")
                if timeout is not None and grace <= int(timeout) + (sleep_s or 0):
                    err(
                        f"{where}: Deployment/{name}: terminationGracePeriodSeconds {grace} must exceed "
                        f"preStop {sleep_s or 0} s + graceful shutdown {timeout} s"
                    )
                for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                    got = c.get(probe, {}).get("httpGet", {}).get("path")
                    if got != path:
                        err(f"{where}: {cname}: {probe} must GET {path}, not {got}")
                if not pod.get("topologySpreadConstraints"):
                    err(f"{where}: Deployment/{name}: no topologySpreadConstraints")
                hpas = [
                    h
                    for h in by_kind.get("HorizontalPodAutoscaler", [])
                    if h["spec"]["scaleTargetRef"].get("kind") == "Deployment"
                    and h["spec"]["scaleTargetRef"].get("name") == name
                ]
                if not hpas:
                    err(f"{where}: Deployment/{name}: no HorizontalPodAutoscaler targets the API")
                elif "replicas" in dep["spec"]:
                    err(f"{where}: Deployment/{name}: spec.replicas fights the HPA on every apply: drop it")
                if not selected_by("PodDisruptionBudget", dep):
                    err(f"{where}: Deployment/{name}: no PodDisruptionBudget selects the API")
                if not selected_by("Service", dep):
                    err(f"{where}: Deployment/{name}: no Service selects the API")
            elif command[:3] == ["python", "-m", "app"] and c.get("args") == ["worker"]:  # the worker
                for probe in ("readinessProbe", "livenessProbe"):
                    if "arq --check" not in probe_command(c.get(probe)):
                        err(f"{where}: {cname}: {probe} must exec `arq --check ...`")
                metrics_port_of(dep, c, "BFF_WORKER_METRICS_PORT")
                if grace < 40:
                    err(
                        f"{where}: Deployment/{name}: terminationGracePeriodSeconds {grace} < 40: "
                        "in-flight jobs are killed"
                    )
                if not selected_by("PodDisruptionBudget", dep):
                    err(f"{where}: Deployment/{name}: no PodDisruptionBudget selects the worker")

    names = {o["metadata"]["name"] for o in deployments}
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        target = hpa["spec"]["scaleTargetRef"]
        if target.get("kind") == "Deployment" and target.get("name") not in names:
            err(f"{where}: HorizontalPodAutoscaler/{hpa['metadata']['name']} targets a missing Deployment")
    for kind in ("Service", "PodDisruptionBudget"):
        for obj in by_kind.get(kind, []):
            sel = obj["spec"].get("selector", {})
            if not any(
                selector_matches(sel, d["spec"]["template"]["metadata"].get("labels", {}))
                for d in deployments
            ):
                err(f"{where}: {kind}/{obj['metadata']['name']}: the selector matches no pod template")
    return errors


def load_secret_example(root: Path) -> tuple[dict[str, set[str]], list[str]]:
    path = root / "deploy" / "base" / "secret.example.yaml"
    errors: list[str] = []
    keys: dict[str, set[str]] = {}
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc:
            continue
        errors += validate_schema(doc, str(path.relative_to(root)))
        if doc.get("kind") == "Secret":
            keys[doc["metadata"]["name"]] = set(doc.get("stringData", {})) | set(doc.get("data", {}))
    for directory in kustomizations(root):
        try:
            kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text()) or {}
        except yaml.YAMLError:
            continue  # reported when rendering
        if any("secret.example" in str(r) for r in kustomization.get("resources", [])):
            errors.append(f"{directory.relative_to(root)}: lists secret.example.yaml: it must stay out")
    return keys, errors


def check_kustomize(root: Path, renderer: str) -> tuple[list[str], list[str]]:
    notes: list[str] = []
    secret_keys, errors = load_secret_example(root)
    try:
        image_cmd = image_commands.image_cmd(root)
    except (ValueError, OSError) as exc:
        return notes, [f"Dockerfile: {exc}"]
    command = kustomize_command() if renderer != "python" else None
    if renderer == "kustomize" and command is None:
        return notes, ["--renderer kustomize: neither kustomize nor kubectl is on PATH"]
    for directory in kustomizations(root):
        where = str(directory.relative_to(root))
        try:
            objs = render.render(directory)
        except (render.RenderError, yaml.YAMLError, OSError) as exc:
            errors.append(f"{where}: deploy/render.py: {exc}")
            continue
        how = "deploy/render.py"
        if command:
            try:
                theirs = render_with_binary(command, directory)
            except (render.RenderError, yaml.YAMLError, subprocess.TimeoutExpired) as exc:
                errors.append(str(exc))
                continue
            diffs = compare(directory, objs, theirs, " ".join(command))
            errors += diffs
            how += f" = `{' '.join(command)}`" if not diffs else f" != `{' '.join(command)}`"
        before = len(errors)
        for obj in objs:
            errors += validate_schema(obj, where)
        errors += check_objects(where, objs, secret_keys, "overlays" in directory.parts, image_cmd)
        kinds = sorted({o["kind"] for o in objs})
        notes.append(
            f"{where}: {len(objs)} objects ({', '.join(kinds)}), rendered by {how}; "
            f"schemas of Kubernetes {' and '.join(KUBERNETES_VERSIONS)} (strict) and the "
            f"service's rules: {'ok' if len(errors) == before else 'FAILED'}"
        )
    return notes, errors


# --- docker-compose.yml -----------------------------------------------------------------------

INTERPOLATION = re.compile(r"\$\{([^}]*)\}")
VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:(:?[-?+])(.*))?$", re.S)


def walk_strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk_strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_strings(v, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def check_compose(root: Path) -> tuple[list[str], list[str]]:
    path = root / "docker-compose.yml"
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        return [], [f"docker-compose.yml does not parse: {exc}"]
    errors: list[str] = []
    err = errors.append
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict) or not services:
        return [], ["docker-compose.yml: no services"]
    for where, value in walk_strings(data):
        rest = value.replace("$$", "")
        for expr in INTERPOLATION.findall(rest):
            if not VARIABLE.match(expr):
                err(f"docker-compose.yml {where}: bad interpolation ${{{expr}}}")
        if "${" in INTERPOLATION.sub("", rest):
            err(f"docker-compose.yml {where}: unterminated ${{ in {value!r}")
    volumes = set((data.get("volumes") or {}).keys())
    for name, svc in services.items():
        if not isinstance(svc, dict) or not ("image" in svc or "build" in svc):
            err(f"docker-compose.yml: service {name} has neither image nor build")
            continue
        deps = svc.get("depends_on", {})
        for dep in deps if isinstance(deps, (list, dict)) else []:
            if dep not in services:
                err(f"docker-compose.yml: service {name} depends on unknown service {dep}")
        for mount in svc.get("volumes", []):
            source = str(mount).split(":")[0] if isinstance(mount, str) else mount.get("source", "")
            if source and not source.startswith((".", "/", "~")) and source not in volumes:
                err(f"docker-compose.yml: service {name} mounts undeclared volume {source}")
        for port in svc.get("ports", []):
            spec = str(port) if not isinstance(port, dict) else f"{port.get('host_ip', '')}:"
            if not spec.startswith(("127.0.0.1:", "[::1]:", "::1:")):
                err(
                    f"docker-compose.yml: service {name} publishes {port!r} on every interface: "
                    "bind 127.0.0.1"
                )
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
        for key in SECRET_KEYS & set(env):
            # From the environment; a default only when it says it is for dev (safe because
            # every published port binds loopback, checked above for every service).
            m = re.fullmatch(r"\$\{" + key + r"(:?\?[^}]*|:-" + DEV_ONLY + r"[^}]*)\}", str(env[key]))
            if not m:
                err(
                    f"docker-compose.yml: service {name}: {key} must come from the environment: "
                    f"${{{key}:?...}}, or ${{{key}:-{DEV_ONLY}...}} for a stack on loopback"
                )
        private = env.get("BFF_WEBHOOK_ALLOW_PRIVATE_TARGETS")
        if private is not None:
            m = re.fullmatch(r"\$\{BFF_WEBHOOK_ALLOW_PRIVATE_TARGETS:?-(.*)\}", str(private))
            if not m or m.group(1).strip().lower() not in ("false", "0", "no", ""):
                err(
                    f"docker-compose.yml: service {name}: BFF_WEBHOOK_ALLOW_PRIVATE_TARGETS is forced "
                    "on; a developer opts in: ${BFF_WEBHOOK_ALLOW_PRIVATE_TARGETS:-false}"
                )
    api_command = services.get("api", {}).get("command")
    if api_command is not None:
        err(
            f"docker-compose.yml: the api service runs {api_command}: drop it, the API has one entry "
            "point, the image's CMD (as in Kubernetes)"
        )
    worker = services.get("worker", {})
    test = worker.get("healthcheck", {}).get("test", [])
    if "arq --check" not in " ".join(test if isinstance(test, list) else [test]):
        err("docker-compose.yml: the worker's healthcheck must run `arq --check app.worker.WorkerSettings`")
    if worker.get("healthcheck", {}).get("disable"):
        err("docker-compose.yml: the worker's healthcheck is disabled")
    redis_cmd = services.get("redis", {}).get("command", [])
    redis_cmd = " ".join(redis_cmd) if isinstance(redis_cmd, list) else str(redis_cmd)
    if "--appendonly yes" not in redis_cmd:
        err("docker-compose.yml: Redis must keep AOF on (--appendonly yes)")
    note = f"docker-compose.yml: {len(services)} services ({', '.join(services)}): " + (
        "ok" if not errors else "FAILED"
    )
    return [note], errors


# --- Dockerfile -------------------------------------------------------------------------------


def check_dockerfile(root: Path) -> tuple[list[str], list[str]]:
    text = (root / "Dockerfile").read_text()
    lines = re.sub(r"\\\n", " ", text).splitlines()
    instructions = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    errors: list[str] = []
    args: dict[str, str] = {}
    stages: list[list[str]] = []
    stage_names: set[str] = set()
    for ins in instructions:
        word, _, rest = ins.partition(" ")
        word = word.upper()
        if word == "ARG" and not stages:
            name, _, default = rest.strip().partition("=")
            args[name] = default.strip().strip('"')
        elif word == "FROM":
            parts = rest.split()
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            if len(parts) >= 3 and parts[1].upper() == "AS":
                stage_names.add(parts[2])
            if image not in stage_names and not re.search(r"@sha256:[0-9a-f]{64}$", image):
                errors.append(f"Dockerfile: FROM {parts[0]} ({image}) is not pinned by digest")
            stages.append([])
        elif stages:
            stages[-1].append(ins)
    if not stages:
        return [], ["Dockerfile: no FROM"]
    if not any("--require-hashes" in ins for stage in stages for ins in stage):
        errors.append("Dockerfile: no pip install --require-hashes from the lock")
    runtime = stages[-1]
    users = [ins.split(None, 1)[1] for ins in runtime if ins.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        errors.append("Dockerfile: the runtime stage must end as a non-root USER")
    if not any(ins.upper().startswith("HEALTHCHECK ") for ins in runtime):
        errors.append("Dockerfile: the runtime stage has no HEALTHCHECK")
    cmd = [ins for ins in runtime if ins.upper().startswith("CMD ")]
    if not cmd or "--timeout-graceful-shutdown" not in cmd[-1]:
        errors.append(
            "Dockerfile: the API CMD needs uvicorn --timeout-graceful-shutdown (a bound on requests "
            "other than event streams, which end on SIGTERM)"
        )
    if not any("uninstall" in ins and "pip" in ins for ins in runtime):
        errors.append("Dockerfile: the runtime stage keeps pip (uninstall pip setuptools wheel)")
    return [
        f"Dockerfile: {len(stages)} stages, base pinned by digest: " + ("ok" if not errors else "FAILED")
    ], errors


# --- main and self-test -----------------------------------------------------------------------


def run_all(root: Path, renderer: str) -> tuple[list[str], list[str]]:
    notes: list[str] = []
    errors: list[str] = []
    for check in (lambda r: check_kustomize(r, renderer), check_compose, check_dockerfile):
        n, e = check(root)
        notes += n
        errors += e
    return notes, errors


def _edit(relpath: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / relpath
        text = path.read_text()
        if old not in text:
            raise AssertionError(f"self-test: {relpath} no longer contains {old!r}: update the case")
        path.write_text(text.replace(old, new, 1))

    return apply


# (what is broken, how, a piece of the error that must name it)
BREAKAGES: list[tuple[str, Callable[[Path], None], str]] = [
    (
        "a misspelt field",
        _edit("deploy/base/api-deployment.yaml", "livenessProbe:", "livenesProbe:"),
        "'livenesProbe' was unexpected",
    ),
    (
        "a wrong type",
        _edit("deploy/base/worker-deployment.yaml", "replicas: 2", "replicas: two"),
        "is not of type 'integer'",
    ),
    (
        "broken YAML",
        _edit("deploy/base/api-service.yaml", "  type: ClusterIP", "  type: [ClusterIP"),
        "api-service",
    ),
    (
        "the example Secret in the base",
        _edit(
            "deploy/base/kustomization.yaml",
            "  - configmap.yaml",
            "  - configmap.yaml\n  - secret.example.yaml",
        ),
        "renders a Secret",
    ),
    (
        "a grace period shorter than the shutdown",
        _edit(
            "deploy/base/api-deployment.yaml",
            "terminationGracePeriodSeconds: 30",
            "terminationGracePeriodSeconds: 15",
        ),
        "must exceed",
    ),
    (
        "a secret in the ConfigMap",
        _edit("deploy/base/configmap.yaml", "\ndata:\n", "\ndata:\n  BFF_JWT_SECRET: oops\n"),
        "secret-looking keys",
    ),
    (
        "a patch of a missing object",
        _edit("deploy/overlays/production/api-patch.yaml", "name: bff-api", "name: bff-apl"),
        "matches 0 objects",
    ),
    (
        "the API on every interface",
        _edit("docker-compose.yml", '"127.0.0.1:8000:8000"', '"8000:8000"'),
        "on every interface",
    ),
    (
        "a default JWT secret that does not say it is dev-only",
        _edit("docker-compose.yml", "${BFF_JWT_SECRET:-dev-only-", "${BFF_JWT_SECRET:-my-"),
        "BFF_JWT_SECRET must come from the environment",
    ),
    ("an unpinned base image", _edit("Dockerfile", "@sha256:", ":latest#"), "not pinned by digest"),
    (
        "an API Deployment with a command of its own",
        _edit(
            "deploy/base/api-deployment.yaml",
            "          ports:\n            - name: http",
            '          command: ["uvicorn", "app.main:app", "--timeout-graceful-shutdown", "20"]\n'
            "          ports:\n            - name: http",
        ),
        "not the image's CMD",
    ),
    (
        "a compose API with a command of its own",
        _edit(
            "docker-compose.yml",
            "  api:\n    <<: *bff-image\n",
            '  api:\n    <<: *bff-image\n    command: ["python", "-m", "app", "api"]\n',
        ),
        "the api service runs",
    ),
]


def self_test(root: Path, renderer: str) -> list[str]:
    failures = []
    for what, breakage, expected in BREAKAGES:
        with tempfile.TemporaryDirectory(prefix="deploy-check-") as tmp:
            copy_root = Path(tmp)
            shutil.copytree(
                root / "deploy", copy_root / "deploy", ignore=shutil.ignore_patterns("__pycache__", "*.lock")
            )
            for name in ("docker-compose.yml", "Dockerfile"):
                shutil.copy(root / name, copy_root / name)
            try:
                breakage(copy_root)
            except AssertionError as exc:
                failures.append(str(exc))
                continue
            _, errors = run_all(copy_root, renderer)
            if not any(expected in e for e in errors):
                failures.append(f"self-test: {what} was not caught (expected {expected!r}; got {errors})")
            else:
                print(f"  caught {what}")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--renderer",
        choices=("auto", "python", "kustomize"),
        default=os.environ.get("DEPLOY_CHECK_RENDERER", "auto"),
    )
    parser.add_argument("--self-test", action="store_true", help="break copies of the files; expect failures")
    options = parser.parse_args()
    if options.self_test:
        print(f"deploy-check self-test: {len(BREAKAGES)} deliberate breakages")
        failures = self_test(ROOT, options.renderer)
        for failure in failures:
            print(f"FAIL {failure}")
        print(
            f"deploy-check self-test: {len(BREAKAGES) - len(failures)} of {len(BREAKAGES)} breakages caught"
        )
        return 1 if failures else 0
    notes, errors = run_all(ROOT, options.renderer)
    for note in notes:
        print(note)
    for error in errors:
        print(f"FAIL {error}")
    print(f"deploy-check: {'FAILED with ' + str(len(errors)) + ' problem(s)' if errors else 'all good'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
