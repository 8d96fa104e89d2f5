"""`maestro diff`: what a change does to the rendered tree, per environment and model.

    maestro diff --base GITREF [--head GITREF] [--env E] [--format text|markdown|json]

Both sides are read from git without touching the working tree: a ref's inputs
(`config/`, `overlays/`, `policies/`, `specs/`) are written from git's object store into
a temporary folder (`git ls-tree` + `git cat-file --batch`; `rendered/` is never read).
Without `--head` the head is the working tree as it is, uncommitted and untracked
(not ignored) files included: what `maestro render` would write right now, which in CI is
the pull request's checkout. `crd_schema_dir` is resolved against the real repository
root on both sides (a relative path would point nowhere from a temporary copy).

Only models whose inputs changed are rendered. A model's inputs are its folder under
`specs/` (the spec and its version lock: a promotion changes only the lock), its
environment's overlay folder, `config/`, `policies/` and the compiler (the files under
`compiler/maestro/`, `__version__` included, when the repository holds the compiler).
A change to `config/`, `policies/` or the compiler affects every model; a change under
`overlays/<env>/` every model in that environment. Changes are found by comparing git blob
ids (`git hash-object` for the working tree), without parsing anything. The output says
what was skipped.

Both sides are rendered by the compiler that runs this command (the current
installation): the base ref's own compiler is not used. The diff therefore shows what the
head compiler makes of base and head; a compiler change still counts as "every model
affected", so that the inputs it might render differently are rendered.

`rendered/<env>/argocd/` depends on every model of the environment (one AppProject per
team, listing the team's namespaces). It is computed whenever a model of the environment
is rendered, from the affected models' validated specs and the other models' metadata
(read with a fast YAML scan, not validated: their inputs are the same on both sides).

Per environment and model the report holds: the files added, removed and changed (with a
unified diff of the emitted YAML, which is key-sorted, so key order never shows), the
findings new in head and those resolved (diagnostics of check, governance and render,
compared by code, message, environment and model, not by line), and the monthly cost
estimate of base and head (`costs.monthly_cost`) with its delta, and every served version
that differs between the two sides' lock entries (`mlflow.lock.served_changes`, described as
`registry lock` and `promote` print it), which each format shows above the objects.

A spec that is invalid in head is a finding (status `invalid`, its diagnostics listed,
exit 1). A bad ref, a folder outside git, or a config or policy set that cannot be loaded
is an environment error (exit 2). Otherwise the exit code follows `flux diff`: 0 when the
report is empty, 1 when anything differs (objects, cost, findings).
"""
