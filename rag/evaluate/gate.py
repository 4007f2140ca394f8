"""The promotion gate: thresholds from one reviewed TOML file, and the verdict.

Owns reading `eval/gate.toml` (`[floors]`: metrics that must reach a value,
`[ceilings]`: metrics that must not exceed one, `[max_drop]`: the largest drop
allowed against the live build; `[sets.<name>.floors]` and the like override
them for one gold set, named by its file's stem), and deciding whether a
candidate's evals pass: every gold set must pass its own thresholds. A drop counts as a regression only when it exceeds `max_drop` and the
candidate's 95% bootstrap interval lies wholly below the live value, so noise on
a small gold set does not block a good build. Also lists the questions that
regressed (found or answered by the live build, not by the candidate).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from rag.errors import ConfigError


@dataclass(frozen=True)
class GateConfig:
    floors: Mapping[str, float] = field(default_factory=dict)
    ceilings: Mapping[str, float] = field(default_factory=dict)
    max_drop: Mapping[str, float] = field(default_factory=dict)
    sets: Mapping[str, "GateConfig"] = field(default_factory=dict)  # per gold set (file stem): thresholds that differ

    def for_set(self, name: str) -> "GateConfig":
        """The thresholds for one gold set: the common ones, with that set's own over them."""
        own = self.sets.get(name)
        if own is None:
            return GateConfig(self.floors, self.ceilings, self.max_drop)
        return GateConfig({**self.floors, **own.floors}, {**self.ceilings, **own.ceilings}, {**self.max_drop, **own.max_drop})


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    failures: tuple[str, ...]
    regressed_questions: tuple[str, ...]
    compared_to: str | None
    sets: Mapping[str, Any] = field(default_factory=dict)  # each gold set's own verdict, when there are several

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "passed" if self.passed else "failed",
            "failures": list(self.failures),
            "regressed_questions": list(self.regressed_questions),
            "compared_to": self.compared_to,
            **({"sets": dict(self.sets)} if self.sets else {}),
        }


def load_gate_config(path: Path) -> GateConfig:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"gate file {path} not found: restore eval/gate.toml or pass --gate FILE") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"gate file {path} is not valid TOML: {exc}") from None
    try:
        sets = {name: _thresholds(table) for name, table in data.get("sets", {}).items()}
        return GateConfig(**vars(_thresholds(data)) | {"sets": sets})
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"gate file {path}: every threshold must be a number, under [floors], [ceilings], [max_drop] "
                          f"or [sets.<gold file stem>.floors] and the like ({exc})") from None


def _thresholds(table: Mapping[str, Any]) -> GateConfig:
    return GateConfig(
        floors={k: float(v) for k, v in table.get("floors", {}).items()},
        ceilings={k: float(v) for k, v in table.get("ceilings", {}).items()},
        max_drop={k: float(v) for k, v in table.get("max_drop", {}).items()},
    )


def metric(summary: Mapping[str, Any], dotted: str) -> float | None:
    """The value at a dotted path: 'retrieval.hit@10', or 'by_turn.follow_up.retrieval.hit@5' for follow-ups alone."""
    value: Any = summary
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return None if value is None or isinstance(value, Mapping) else float(value)


def decide(run: Any, live: Mapping[str, Any] | None, config: GateConfig) -> GateDecision:
    """Verdict for a candidate `EvalRun` against the floors and the live build's eval."""
    summary = run.summary
    failures = [*_floor_failures(summary, config), *_ceiling_failures(summary, config)]
    regressed: list[str] = []
    if live is not None:
        failures += _drop_failures(summary, live, config)
        regressed = regressed_questions(summary, live)
    compared = live.get("index", {}).get("build_id") if live else None
    return GateDecision(not failures, tuple(failures), tuple(regressed), compared)


def decide_sets(runs: Mapping[str, Any], live: Mapping[str, Mapping[str, Any]], config: GateConfig) -> GateDecision:
    """Verdict for a candidate evaluated on several gold sets (`runs` by set name): each set against its own
    thresholds and the live build's eval of the same set (`live`, by name); it passes only if every set does."""
    decisions = {name: decide(run, live.get(name), config.for_set(name)) for name, run in runs.items()}
    failures = tuple(f"{name}: {f}" for name, d in decisions.items() for f in d.failures)
    regressed = tuple(f"{name}:{q}" for name, d in decisions.items() for q in d.regressed_questions)
    compared = next((d.compared_to for d in decisions.values() if d.compared_to), None)
    return GateDecision(not failures, failures, regressed, compared, {name: d.to_dict() for name, d in decisions.items()})


def _floor_failures(summary: Mapping[str, Any], config: GateConfig) -> list[str]:
    out = []
    for name, floor in config.floors.items():
        value = metric(summary, name)
        if value is None or value < floor:
            out.append(f"{name} = {_fmt(value)} is below the floor {floor:.3f}")
    return out


def _ceiling_failures(summary: Mapping[str, Any], config: GateConfig) -> list[str]:
    out = []
    for name, ceiling in config.ceilings.items():
        value = metric(summary, name)
        if value is None or value > ceiling:
            out.append(f"{name} = {_fmt(value)} is above the ceiling {ceiling:.3f}")
    return out


def _drop_failures(summary: Mapping[str, Any], live: Mapping[str, Any], config: GateConfig) -> list[str]:
    out = []
    for name, allowed in config.max_drop.items():
        value, before = metric(summary, name), metric(live, name)
        if value is None or before is None:
            continue
        ci_high = summary.get("ci", {}).get(name, [value, value])[1]
        if before - value > allowed and ci_high < before:
            out.append(f"{name} dropped from {before:.3f} to {value:.3f} (allowed drop {allowed:.3f}, 95% CI up to {ci_high:.3f})")
    return out


def regressed_questions(summary: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """Ids of questions the live build got right and the candidate gets wrong."""
    before = {q["id"]: q for q in live.get("questions", [])}
    out = []
    for q in summary.get("questions", []):
        old = before.get(q["id"])
        if old is not None and _correct(old) and not _correct(q):
            out.append(q["id"])
    return out


def _correct(q: Mapping[str, Any]) -> bool:
    if not q["answerable"]:
        return bool(q["abstained"])
    return bool(q.get("hit@10")) and not q["abstained"] and q.get("containment") != 0.0


def _fmt(value: float | None) -> str:
    return "missing" if value is None else f"{value:.3f}"
