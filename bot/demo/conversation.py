"""What the bot said since we last looked: new and edited comments, reviews, statuses.

The demo prints these after every step; the same snapshots tell the tests
whether a re-run edited a comment or added a second one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.demo.localgithub import LocalGitHub, deployment_lines
from bot.render.comments import parse_marker


@dataclass(frozen=True)
class Said:
    """One thing to show: `what` is a one-line header, `body` markdown."""

    what: str
    body: str


@dataclass
class Watcher:
    gh: LocalGitHub
    _comments: dict[int, str] = field(default_factory=dict)
    _reviews: dict[int, str] = field(default_factory=dict)
    _statuses: dict[tuple[str, str], str] = field(default_factory=dict)
    _deployments: dict[int, str] = field(default_factory=dict)

    def news(self) -> list[Said]:
        out: list[Said] = []
        for cid, comment in self.gh.comments.items():
            if not comment.author_is_bot or self._comments.get(cid) == comment.body:
                continue
            thread = self.gh.comment_thread[cid]
            verb = "edited its comment" if cid in self._comments else "commented"
            mark = parse_marker(comment.body)
            kind = f" ({mark.kind})" if mark else ""
            out.append(Said(f"{comment.author} {verb}{kind} on #{thread}", comment.body))
            self._comments[cid] = comment.body
        for number, reviews in self.gh.reviews.items():
            for review in reviews:
                if self._reviews.get(review.id) == review.body:
                    continue
                verb = "updated its review" if review.id in self._reviews else "reviewed"
                inline = [
                    f"> **{rc.path}:{rc.line}**\n>\n> " + rc.body.replace("\n", "\n> ")
                    for rc in self.gh.review_comments.get(number, [])
                    if rc.review_id == review.id
                ]
                body = "\n\n".join([review.body, *inline])
                out.append(Said(f"{review.author} {verb} #{number} at {review.commit_sha[:7]}",
                                body))  # fmt: skip
                self._reviews[review.id] = review.body
        for sha, statuses in self.gh.statuses.items():
            for context, status in statuses.items():
                line = f"{status.state}: {status.description}"
                if self._statuses.get((sha, context)) != line:
                    out.append(Said(f"commit status {context} on {sha[:7]}", line))
                    self._statuses[(sha, context)] = line
        out += self._deployment_news()
        return out

    def _deployment_news(self) -> list[Said]:
        """Deployments new or changed since the last look, one line per environment,
        commit and state."""
        fresh = []
        for index, d in enumerate(self.gh.deployments):
            if self._deployments.get(index) != d.state:
                self._deployments[index] = d.state
                fresh.append(d)
        out = []
        for env, sha, state, n in deployment_lines(fresh):
            count = f" ({n} stacks)" if n > 1 else ""
            out.append(Said(f"GitHub deployment to {env}", f"{sha}: {state}{count}"))
        return out


def stickies(gh: LocalGitHub, number: int) -> dict[str, int]:
    """How many bot comments of each sticky kind a thread has (the tests want 1 each)."""
    counts: dict[str, int] = {}
    for cid in gh.threads[number].comments:
        comment = gh.comments[cid]
        mark = parse_marker(comment.body) if comment.author_is_bot else None
        if mark and mark.part == 1:
            counts[mark.kind] = counts.get(mark.kind, 0) + 1
    return counts
