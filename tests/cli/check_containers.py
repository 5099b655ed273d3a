#!/usr/bin/python3
"""Lints the container recipes (.ci/Dockerfile, .ci/moesim.def) without a container engine: known instructions and
sections, the Debian 12 base, every shell body through `bash -n`, JSON exec forms, and that what they copy and run
exists in the repository. Usage: check_containers.py REPO_ROOT. Exit 1 with one line per problem."""
import json
import os
import re
import subprocess
import sys

ROOT = sys.argv[1]
problems = []


def bash_ok(where, script):
    r = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        problems.append(f"{where}: shell syntax: {r.stderr.strip()}")


def scripts_exist(where, script):
    for path in re.findall(r"\bbash\s+(\.ci/[\w.\-/]+)", script):
        if not os.path.isfile(os.path.join(ROOT, path)):
            problems.append(f"{where}: runs {path}, which is not in the repository")


def dockerfile(path):
    known = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
             "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
    lines, logical, start = open(path).read().split("\n"), "", 0
    instructions = []
    for n, line in enumerate(lines, 1):
        if not logical and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not logical:
            start = n
        if line.rstrip().endswith("\\"):
            logical += line.rstrip()[:-1]  # Docker joins continued lines without the newline
            continue
        logical += line
        instructions.append((start, logical))
        logical = ""
    if logical:
        problems.append(f"{path}: line {start}: the last instruction ends with a line continuation")
    seen_from = False
    for n, text in instructions:
        word, _, rest = text.strip().partition(" ")
        where = f"{path}: line {n}"
        if word.upper() not in known:
            problems.append(f"{where}: unknown instruction {word}")
            continue
        if word != word.upper():
            problems.append(f"{where}: instruction {word} not in capitals")
        if word == "FROM":
            seen_from = True
            if not rest.strip().startswith("debian:12"):
                problems.append(f"{where}: base image {rest.strip()}, expected debian:12")
        elif word != "ARG" and not seen_from:
            problems.append(f"{where}: {word} before FROM")
        if word == "RUN":
            bash_ok(where, rest)
            scripts_exist(where, rest)
        if word in ("CMD", "ENTRYPOINT") and rest.strip().startswith("["):
            try:
                form = json.loads(rest)
                assert isinstance(form, list) and all(isinstance(x, str) for x in form)
            except (ValueError, AssertionError):
                problems.append(f"{where}: {word} exec form is not a JSON list of strings")
        if word == "COPY":
            srcs = rest.split()[:-1]
            for s in srcs:
                if not s.startswith("--") and not os.path.exists(os.path.join(ROOT, s)):
                    problems.append(f"{where}: COPY source {s} does not exist")
    if not seen_from:
        problems.append(f"{path}: no FROM")


def apptainer(path):
    sections = {"setup", "files", "environment", "post", "runscript", "startscript", "test", "labels", "help",
                "app", "appinstall", "appenv", "apprun", "applabels", "appfiles", "apphelp", "apptest"}
    header, body, current = {}, {}, None
    for n, line in enumerate(open(path).read().split("\n"), 1):
        m = re.match(r"^%(\w+)", line)
        if m:
            current = m.group(1)
            if current not in sections:
                problems.append(f"{path}: line {n}: unknown section %{current}")
            body[current] = ""
            continue
        if current is None:
            if line.strip() and not line.lstrip().startswith("#"):
                key, sep, value = line.partition(":")
                if not sep:
                    problems.append(f"{path}: line {n}: header line without 'Key: value'")
                header[key.strip().lower()] = value.strip()
            continue
        body[current] += line + "\n"
    if header.get("bootstrap") != "docker" or not header.get("from", "").startswith("debian:12"):
        problems.append(f"{path}: header: expected Bootstrap: docker and From: debian:12, got {header}")
    for s in ("post", "runscript", "test", "environment"):
        if s not in body:
            problems.append(f"{path}: no %{s} section")
        else:
            bash_ok(f"{path}: %{s}", body[s])
            scripts_exist(f"{path}: %{s}", body[s])
    for line in body.get("files", "").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            src = line.split()[0]
            if not os.path.exists(os.path.join(ROOT, src)):
                problems.append(f"{path}: %files source {src} does not exist")


dockerfile(os.path.join(ROOT, ".ci/Dockerfile"))
apptainer(os.path.join(ROOT, ".ci/moesim.def"))
for p in problems:
    print(p)
if problems:
    sys.exit(1)
print("ok   container recipes: .ci/Dockerfile and .ci/moesim.def")
