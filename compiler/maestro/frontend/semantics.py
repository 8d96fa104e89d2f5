"""Rules across fields, run on a structurally valid spec.

Each check yields `Violation`s (pointer, code, message, hint); the caller turns pointers into
`file:line:col`. Checks never raise for bad input.
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, NamedTuple

from maestro.diagnostics import Diagnostic, error, warning
from maestro.frontend.loader import Located, escape
from maestro.frontend.spec import FloatParam, IntParam, Spec, SpecBody


class Violation(NamedTuple):
    """What a rule found, before it has a position: `to_diagnostics` places it in the document."""

    pointer: str
    code: str
    message: str
    hint: str | None = None
    key: bool = False  # position the mapping key rather than the value
    severity: str = "error"
    related: str | None = None  # pointer of an earlier node the hint refers to ("first declared")


def _dupes(items: Iterable[tuple[str, str]], what: str, where: str = "") -> Iterator[Violation]:
    """(name, pointer) pairs -> a finding at every repeat."""
    seen: dict[str, str] = {}
    for name, ptr in items:
        if name in seen:
            yield Violation(ptr, "M214", f"duplicate {what} '{name}'{where}", related=seen[name])
        else:
            seen[name] = ptr


def check_serving(spec: SpecBody, name: str) -> Iterator[Violation]:
    s = spec.serving
    if s is None:
        return
    base = "/spec/serving"
    if s.replicas.min > s.replicas.max:
        yield Violation(
            f"{base}/replicas/min",
            "M204",
            f"serving.replicas.min ({s.replicas.min}) is greater than max ({s.replicas.max})",
            "raise max or lower min",
        )
    ro = s.rollout
    steps_ptr = f"{base}/rollout/steps"
    if ro.strategy == "canary":
        if not ro.steps:
            yield Violation(
                f"{base}/rollout/strategy", "M205", "canary rollout needs steps", "e.g. steps: [10, 25, 50, 100]"
            )
        for i in range(1, len(ro.steps)):
            if ro.steps[i] <= ro.steps[i - 1]:
                yield Violation(
                    f"{steps_ptr}/{i}",
                    "M205",
                    f"canary steps must be strictly increasing: {ro.steps[i]} follows {ro.steps[i - 1]}",
                )
        if ro.steps and ro.steps[-1] != 100:
            yield Violation(
                f"{steps_ptr}/{len(ro.steps) - 1}",
                "M205",
                f"canary steps must end at 100, the last is {ro.steps[-1]}",
                "append 100",
            )
    elif ro.steps:
        yield Violation(
            steps_ptr,
            "M205",
            f"steps only apply to the canary strategy, not '{ro.strategy}'",
            "remove steps or set strategy: canary",
        )
    if s.ab_test is not None:
        vptr = f"{base}/abTest/variants"
        total = sum(v.weight for v in s.ab_test.variants)
        if total >= 100:
            yield Violation(
                vptr,
                "M206",
                f"A/B variant weights sum to {total}; they must sum below 100",
                "the main model receives 100 minus the sum",
            )
        yield from _dupes(((v.name, f"{vptr}/{i}/name") for i, v in enumerate(s.ab_test.variants)), "variant")
        if ro.strategy == "blueGreen":
            # Blue-green analyses the new version on production traffic mirrored to it by the
            # route Argo Rollouts manages; an A/B test's weights hold that route (Argo Rollouts
            # deletes every other destination of the route it manages).
            yield Violation(
                f"{base}/rollout/strategy",
                "M222",
                "a blueGreen rollout and an A/B test cannot share the model's route",
                "use strategy: canary (replica-based within the main model's share) or stop the A/B test "
                "(abTest: null) in the environments that roll out blue-green",
            )
        for i, v in enumerate(s.ab_test.variants):
            derived = f"{name}-{v.name}-predictor-00001"
            if len(derived) > 63:
                yield Violation(
                    f"{vptr}/{i}/name",
                    "M201",
                    f"variant name '{v.name}' makes '{derived}' ({len(derived)} chars) longer than 63",
                    f"shorten the variant to at most {63 - len(name) - len('--predictor-00001')} characters",
                )


MIN_DERIVED_TTL = 20 * 60  # seconds: 4 refreshes at the 5-minute floor of render/materialize.py
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _seconds(duration: str) -> int:
    """Seconds of a spec Duration (one unit, already validated: '7d', '30m')."""
    return int(duration[:-1]) * _UNIT_SECONDS[duration[-1]]


def check_features(spec: SpecBody) -> Iterator[Violation]:
    f = spec.features
    base = "/spec/features"
    if f is not None:
        yield from _dupes(((e.name, f"{base}/entities/{i}/name") for i, e in enumerate(f.entities)), "entity")
        yield from _dupes(((s.name, f"{base}/sources/{i}/name") for i, s in enumerate(f.sources)), "source")
        yield from _dupes(((v.name, f"{base}/views/{i}/name") for i, v in enumerate(f.views)), "view")
        entities = [e.name for e in f.entities]
        sources = [s.name for s in f.sources]
        for i, view in enumerate(f.views):
            for j, ent in enumerate(view.entities):
                if ent not in entities:
                    yield Violation(
                        f"{base}/views/{i}/entities/{j}",
                        "M207",
                        f"view '{view.name}' refers to undeclared entity '{ent}'",
                        f"declared entities: {', '.join(entities)}",
                    )
            if view.source not in sources:
                yield Violation(
                    f"{base}/views/{i}/source",
                    "M207",
                    f"view '{view.name}' refers to undeclared source '{view.source}'",
                    f"declared sources: {', '.join(sources)}",
                )
            if view.online and view.materialization.schedule is None and _seconds(view.ttl) < MIN_DERIVED_TTL:
                # The derived schedule refreshes 4 times per ttl, at most every 5 minutes
                # (render/materialize.py): below 20m the values would expire between runs.
                yield Violation(
                    f"{base}/views/{i}/ttl",
                    "M223",
                    f"online view '{view.name}' has a ttl of {view.ttl}, too short for the derived materialization "
                    "schedule (every 5 minutes at most)",
                    "use a ttl of 20m or more, or set materialization.schedule yourself",
                )
            yield from _dupes(
                ((fld.name, f"{base}/views/{i}/fields/{k}/name") for k, fld in enumerate(view.fields)),
                "field",
                f" in view '{view.name}'",
            )
    drift = spec.monitoring.drift if spec.monitoring else None
    if drift is not None:
        known = {fld.name for v in (f.views if f else []) for fld in v.fields}
        for i, feat in enumerate(drift.features):
            if feat not in known:
                hint = (
                    f"features declared in views: {', '.join(sorted(known))}"
                    if known
                    else "declare the feature in spec.features.views"
                )
                yield Violation(
                    f"/spec/monitoring/drift/features/{i}",
                    "M208",
                    f"drift feature '{feat}' is not a field of any feature view",
                    hint,
                )


# What each pipeline step runs, and so needs.
STEP_NEEDS = {
    "materialize": ("features", "an online feature view in spec.features"),
    "train": ("training", "spec.training"),
    "tune": ("tuning", "spec.tuning"),
    "evaluate": ("registry", "spec.registry with gates"),
    "promote": ("registry", "spec.registry"),
}
STEP_ORDER = ("materialize", "tune", "train", "evaluate", "promote")
JINJA_MARKERS = ("{{", "{%", "{#")


def check_pipeline(spec: SpecBody) -> Iterator[Violation]:
    p = spec.pipeline
    if p is None:
        return
    base = "/spec/pipeline"
    yield from _dupes(((step, f"{base}/steps/{i}") for i, step in enumerate(p.steps)), "pipeline step")
    for i, step in enumerate(p.steps):
        section, what = STEP_NEEDS[step]
        present = getattr(spec, section) is not None
        if step == "materialize":
            present = spec.features is not None and any(v.online for v in spec.features.views)
        if step == "evaluate":
            present = spec.registry is not None and bool(spec.registry.gates)
        if not present:
            yield Violation(
                f"{base}/steps/{i}", "M216", f"pipeline step '{step}' needs {what}", f"add {what}, or remove the step"
            )
    positions = {step: i for i, step in enumerate(p.steps)}
    for before, after in (("train", "evaluate"), ("evaluate", "promote"), ("train", "promote")):
        if before in positions and after in positions and positions[before] > positions[after]:
            yield Violation(
                f"{base}/steps/{positions[after]}",
                "M225",
                f"pipeline step '{after}' runs before '{before}'",
                f"order the steps {', '.join(s for s in STEP_ORDER if s in positions)}",
            )
    if "promote" in positions and "evaluate" not in positions:
        yield Violation(
            f"{base}/steps/{positions['promote']}",
            "M225",
            "pipeline step 'promote' without 'evaluate' would promote a version no gate has checked",
            "add 'evaluate' before 'promote'",
        )
    if spec.training is not None and spec.training.schedule is not None:
        yield Violation(
            "/spec/training/schedule",
            "M225",
            "training.schedule and pipeline both schedule retraining",
            "remove training.schedule: the pipeline's schedule runs the training",
        )


def check_airflow_templating(data: Any, ptr: str = "") -> Iterator[Violation]:
    """Airflow renders every templated operator field with Jinja at run time (the pod
    template, command, arguments, env): a spec string holding a Jinja marker would be
    evaluated there, not passed on. Only for specs with a pipeline."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from check_airflow_templating(v, f"{ptr}/{escape(str(k))}")
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from check_airflow_templating(v, f"{ptr}/{i}")
    elif isinstance(data, str) and any(m in data for m in JINJA_MARKERS):
        yield Violation(
            ptr,
            "M226",
            f"'{data}' holds a Jinja marker, which Airflow would evaluate in the pipeline's tasks",
            "remove '{{', '{%' and '{#' from values of a model with a pipeline",
        )


def _step_divides(low: float, high: float, step: float) -> bool:
    span = Decimal(str(high)) - Decimal(str(low))
    return span % Decimal(str(step)) == 0


def check_tuning(spec: SpecBody) -> Iterator[Violation]:
    t = spec.tuning
    if t is None:
        return
    base = "/spec/tuning"
    if spec.training is None:
        yield Violation(
            base,
            "M216",
            "tuning needs a training section: trials run the training image",
            "add spec.training with image and command",
            key=True,
        )
    if t.parallelism > t.trials:
        yield Violation(
            f"{base}/parallelism",
            "M209",
            f"parallelism ({t.parallelism}) exceeds trials ({t.trials}); workers would sit idle",
            severity="warning",
        )
    # Optuna's own distribution classes decide what a valid search space is.
    from optuna import distributions as od

    for pname, p in t.search_space.items():
        ptr = f"{base}/searchSpace/{escape(pname)}"
        if (
            isinstance(p, (FloatParam, IntParam))
            and p.step is not None
            and not p.log
            and p.low <= p.high
            and not _step_divides(p.low, p.high, p.step)
        ):
            # Optuna only warns and silently lowers `high`; a spec should say what it means.
            yield Violation(
                f"{ptr}/step",
                "M209",
                f"search space '{pname}': step {p.step} does not divide the range [{p.low}, {p.high}]",
                "adjust high so that (high - low) is a multiple of step",
            )
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                if isinstance(p, FloatParam):
                    od.FloatDistribution(p.low, p.high, log=p.log, step=p.step)
                elif isinstance(p, IntParam):
                    od.IntDistribution(p.low, p.high, log=p.log, step=p.step)
                else:
                    od.CategoricalDistribution(p.choices)
        except (ValueError, TypeError, Warning) as exc:
            yield Violation(ptr, "M209", f"search space '{pname}': {str(exc).strip()}", key=True)
            continue
        if isinstance(p, FloatParam) and not all(math.isfinite(x) for x in (p.low, p.high)):
            yield Violation(ptr, "M209", f"search space '{pname}': bounds must be finite", key=True)


def check_registry(spec: SpecBody) -> Iterator[Violation]:
    r = spec.registry
    if r is None:
        return
    yield from (
        f._replace(
            code="M210",
            message=f"metric {f.message.split(' ', 2)[2]} is gated more than once",
            hint="one gate per metric: the strictest threshold is the one that matters",
        )
        for f in _dupes(((g.metric, f"/spec/registry/gates/{i}/metric") for i, g in enumerate(r.gates)), "metric")
    )


# Variables a secret may not set. Kubernetes lets the last `env` entry of a name win, and the
# secret's entries come after the platform's, so a secret named like one of these would
# replace what the platform set (where traces and models go), or make the program load code
# of the secret's choosing (the dynamic loader, interpreter start-up hooks).
# tests/test_render_secrets.py checks that every variable a renderer sets is covered here.
PLATFORM_ENV = frozenset(
    {
        "HOME",
        "MODEL_URI",
        "PUSHGATEWAY_URL",
        "DRIFT_METRIC",
        "OPTUNA_STUDY_NAME",
        "MLFLOW_TRACKING_URI",
        "MLFLOW_EXPERIMENT_NAME",
        "DEFINITION",  # a one-shot run's launcher compares it with the running run (render/launch.py)
        "LOG_FORMAT",  # render/decorate.py: logs in the shape the Loki rules parse
        "LOG_LEVEL",
        # render/decorate.py's OpenLineage settings; OPENLINEAGE__TRANSPORT__AUTH__* stays a secret's to set
        "OPENLINEAGE__TRANSPORT__TYPE",
        "OPENLINEAGE__TRANSPORT__URL",
        "OPENLINEAGE__TRANSPORT__ENDPOINT",
        "OPENLINEAGE_NAMESPACE",
        "OPENLINEAGE_JOB_NAME",
    }
)
PLATFORM_ENV_PREFIXES = ("OTEL_", "MAESTRO_", "MLSERVER_")
LOADER_ENV = frozenset(
    {
        "PATH",
        "NODE_OPTIONS",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        "JDK_JAVA_OPTIONS",
        "PERL5OPT",
        "PERL5LIB",
        "RUBYOPT",
        "RUBYLIB",
        "BASH_ENV",
        "ENV",
        "GCONV_PATH",
    }
)
LOADER_ENV_PREFIXES = ("LD_", "PYTHON")


def reserved_env(name: str) -> str | None:
    """Why a secret may not set variable `name` ("the platform" or "the program loader"), or None."""
    if name in PLATFORM_ENV or name.startswith(PLATFORM_ENV_PREFIXES):
        return "the platform"
    if name in LOADER_ENV or name.startswith(LOADER_ENV_PREFIXES):
        return "the program loader"
    return None


def env_references(text: str) -> list[str]:
    """The variables `$(NAME)` in a container command or argument refers to, as Kubernetes
    expands them (`$$` is a literal `$`, so `$$(NAME)` is no reference)."""
    out, i = [], 0
    while i < len(text) - 1:
        if text[i] != "$":
            i += 1
        elif text[i + 1] == "$":
            i += 2
        elif text[i + 1] == "(" and (end := text.find(")", i + 2)) != -1:
            out.append(text[i + 2 : end])
            i = end + 1
        else:
            i += 1
    return out


def check_secrets(spec: SpecBody) -> Iterator[Violation]:
    yield from _dupes(((s.name, f"/spec/secrets/{i}/name") for i, s in enumerate(spec.secrets)), "secret")
    yield from _dupes(
        ((var, f"/spec/secrets/{i}/env/{escape(var)}") for i, s in enumerate(spec.secrets) for var in s.env),
        "environment variable",
    )
    secret_vars: dict[str, str] = {}
    for i, s in enumerate(spec.secrets):
        for var in s.env:
            secret_vars.setdefault(var, s.name)
            owner = reserved_env(var)
            if owner is not None:
                yield Violation(
                    f"/spec/secrets/{i}/env/{escape(var)}",
                    "M219",
                    f"secret '{s.name}' may not set {var}: {owner} sets it, and the secret would replace it",
                    "name the variable after what it holds (e.g. DB_PASSWORD); the platform's variables come "
                    "from config/platform.yaml, the loader's from the image",
                    key=True,
                )
    if spec.training is not None:
        for field in ("command", "args"):
            for j, text in enumerate(getattr(spec.training, field) or []):  # command may be unset
                for var in env_references(text):
                    if var in secret_vars:
                        yield Violation(
                            f"/spec/training/{field}/{j}",
                            "M220",
                            f"training.{field}[{j}] puts secret '{secret_vars[var]}' ({var}) on the command line: "
                            f"the kubelet expands $({var}) into the process arguments, which `ps` in the pod and the "
                            "container runtime show",
                            f"read {var} from the environment in the program instead (or write $$({var}) for the "
                            "literal text)",
                        )


def check_sections(spec: SpecBody) -> Iterator[Violation]:
    m = spec.monitoring
    if m is not None and m.slo is not None and spec.serving is None:
        yield Violation(
            "/spec/monitoring/slo",
            "M216",
            "an SLO needs a serving section to measure",
            "remove monitoring.slo for a batch model",
            key=True,
        )
    if spec.network is not None and spec.network.allow_from and spec.serving is None:
        yield Violation(
            "/spec/network/allowFrom",
            "M216",
            "network.allowFrom needs a serving section to reach",
            key=True,
            severity="warning",
        )
    yield from _dupes(
        (
            (f"{p.namespace}/{p.service_account or '*'}", f"/spec/network/allowFrom/{i}")
            for i, p in enumerate(spec.network.allow_from if spec.network else [])
        ),
        "network peer",
    )


def check_environment_names(spec: SpecBody, known: Iterable[str]) -> Iterator[Violation]:
    import difflib

    known = list(known)
    for env in spec.environments:
        if env not in known:
            guess = difflib.get_close_matches(env, known, n=1)
            yield Violation(
                f"/spec/environments/{escape(env)}",
                "M215",
                f"unknown environment '{env}'",
                f"did you mean '{guess[0]}'?" if guess else f"environments: {', '.join(known)}",
                key=True,
            )


# ---------------------------------------------------------------- secret-looking literals

_SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a private key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")),
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("a Stripe key", re.compile(r"\b[sr]k_(live|test)_[0-9A-Za-z]{16,}")),
    ("a JSON Web Token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("a URL with a password", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")),
)
_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{32,}")


def _entropy(s: str) -> float:
    counts = {c: s.count(c) for c in set(s)}
    return -sum(n / len(s) * math.log2(n / len(s)) for n in counts.values())


# Every pattern at once: most strings match none, and one search says so (the loop below
# still decides which pattern a match is, in the order above).
_ANY_SECRET = re.compile("|".join(f"(?:{rx.pattern})" for _, rx in _SECRET_PATTERNS))
_MEMO_MAX_LEN = 256  # short strings repeat (labels, names, keys); long ones are rarely seen twice


def secret_kind(value: str) -> str | None:
    """What secret `value` looks like, if any."""
    if len(value) <= _MEMO_MAX_LEN:
        return _secret_kind_memo(value)
    return _secret_kind(value)


@functools.lru_cache(maxsize=1 << 16)
def _secret_kind_memo(value: str) -> str | None:
    return _secret_kind(value)


def _secret_kind(value: str) -> str | None:
    if len(value) < 32 and not _ANY_SECRET.search(value):
        return None  # too short for a token (_TOKEN wants 32 characters)
    for what, rx in _SECRET_PATTERNS:
        if rx.search(value):
            return what
    for m in _TOKEN.finditer(value):
        tok = m.group(0)
        if value[max(0, m.start() - 7) : m.start()] == "sha256:":
            continue  # image digests are meant to be there
        classes = sum(bool(re.search(rx, tok)) for rx in (r"[a-z]", r"[A-Z]", r"[0-9]"))
        if classes == 3 and _entropy(tok) >= 4.0 and "/" not in tok.strip("/"):
            return "a high-entropy token"
    return None


def check_literals(data: Any, ptr: str = "") -> Iterator[Violation]:
    """Scan every key and string value of the raw document."""
    if isinstance(data, dict):
        for k, v in data.items():
            child = f"{ptr}/{escape(str(k))}"
            what = secret_kind(str(k))
            if what:
                yield Violation(
                    child,
                    "M213",
                    f"{what} in a key of {_dotted(ptr)}",
                    "specs never hold secret values: store it in Vault and reference it in spec.secrets",
                    key=True,
                )
            yield from check_literals(v, child)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from check_literals(v, f"{ptr}/{i}")
    elif isinstance(data, str):
        what = secret_kind(data)
        if what:
            yield Violation(
                ptr,
                "M213",
                f"{_dotted(ptr)} holds what looks like {what}",
                "specs never hold secret values: store it in Vault and reference it in spec.secrets",
            )


def _dotted(ptr: str) -> str:
    from maestro.frontend.pydantic_errors import dotted

    return dotted(ptr)


def check_spec(spec: Spec, environments: Iterable[str]) -> list[Violation]:
    body = spec.spec
    return [
        *check_serving(body, spec.metadata.name),
        *check_features(body),
        *check_tuning(body),
        *check_pipeline(body),
        *check_registry(body),
        *check_secrets(body),
        *check_sections(body),
        *check_environment_names(body, environments),
    ]


def to_diagnostics(findings: Iterable[Violation], located: Located, env: str | None = None) -> list[Diagnostic]:
    out = []
    for f in findings:
        make = error if f.severity == "error" else warning
        hint = f.hint
        if f.related is not None:
            first = located.pos(f.related)
            hint = f"first declared at line {first.line}" + (f"; {hint}" if hint else "")
        out.append(make(f.code, f.message, hint=hint, env=env or "", **located.where(f.pointer, key=f.key)))
    return out
