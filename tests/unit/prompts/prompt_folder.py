"""Prompt files for the registry's tests, written as a user would: a folder of .md / .j2 / .yaml files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

# A body that passes lint: cites, abstains, uses only question and sources.
GOOD_BODY = """[system]
Answer only from the numbered sources and cite each one you use as [n].
If the sources do not contain the answer, say that you don't know.
[user]
{% for s in sources %}[{{ s.n }}] {{ s.title }}: {{ s.text }}
{% endfor %}Question: {{ question }}
"""


def front_matter(name: str, version: int, body: str = GOOD_BODY, **meta: object) -> str:
    header = yaml.safe_dump({"name": name, "version": version, **meta}, sort_keys=False)
    return f"---\n{header}---\n{body}"


def write(folder: Path, relative: str, text: str) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


GIT_ENV = {"GIT_AUTHOR_NAME": "Ana Lyst", "GIT_AUTHOR_EMAIL": "ana@example.com", "GIT_COMMITTER_NAME": "Ana Lyst",
           "GIT_COMMITTER_EMAIL": "ana@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}


def git(repo: Path, *args: str, date: str | None = None) -> str:
    """Run git in `repo` with a fixed identity (and, for commits, a fixed date)."""
    env = {**os.environ, **GIT_ENV}
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    done = subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True)
    return done.stdout


def commit_all(repo: Path, message: str, *, date: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, date=date)
    return git(repo, "rev-parse", "HEAD").strip()


YAML_QA_V3 = """name: qa
version: 3
description: messages, for a chat model
model: gpt-4o-mini
params:
  max_tokens: 160
  temperature: 0
messages:
  - role: system
    content: |
      Answer only from the numbered sources; cite each source you use as [n].
      If the sources do not contain the answer, say "I don't know".
  - role: user
    content: |
      {% for s in sources %}[{{ s.n }}] {{ s.text }}
      {% endfor %}Question: {{ question }}
"""
