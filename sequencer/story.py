"""A short readable story for the v2 scenarios (``based``, ``forced``): numbered steps, named
checks that must hold (a failing one stops the scenario with ``ScenarioError``), and the
figures worth keeping, printed at the end and returned for tests and ``--json``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sequencer.scenario_results import ScenarioError


@dataclass
class Story:
    title: str
    say: Callable[[str], None] = print
    checks: list[tuple[str, bool]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    step_no: int = 0

    def step(self, text: str) -> None:
        self.step_no += 1
        self.say(f"{self.step_no}. {text}")

    def note(self, text: str) -> None:
        self.say(f"   {text}")

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        """Record check ``name``; stop the story if it fails."""
        self.checks.append((name, bool(ok)))
        self.say(f"   [{'ok' if ok else 'FAILED'}] {name}{f' ({detail})' if detail else ''}")
        if not ok:
            raise ScenarioError(f"{self.title}: {name}{f': {detail}' if detail else ''}")

    def figure(self, name: str, value: Any) -> None:
        self.figures[name] = value

    @property
    def ok(self) -> bool:
        return all(ok for _, ok in self.checks)

    def summary(self) -> str:
        lines = [f"== {self.title}: {sum(ok for _, ok in self.checks)}/{len(self.checks)} checks"]
        for name, value in self.figures.items():
            shown = f"{value:,}" if isinstance(value, int) else str(value)
            lines.append(f"   {name}: {shown}")
        return "\n".join(lines)

    def as_json(self) -> dict:
        return {
            "title": self.title,
            "ok": self.ok,
            "checks": [{"name": n, "ok": ok} for n, ok in self.checks],
            "figures": self.figures,
        }


class Scenario(Protocol):
    story: Story

    def run(self) -> None: ...


def tell(scenario: Scenario) -> int:
    """Run ``scenario``; a failed check ends it with "scenario failed: ..."; then its summary.
    The exit status: 0 if at least one check ran and every check held."""
    story = scenario.story
    try:
        scenario.run()
    except ScenarioError as exc:
        story.say(f"scenario failed: {exc}")
    story.say(story.summary())
    return 0 if story.ok and story.checks else 1
