"""The shape of the house at a checkout: folders, module sizes, imports between folders, import
cycles and the seams issue 11 counted. ``python scripts/house.py [CHECKOUT]`` (default: here).

It reads the code as text and builds the import graph with grimp (import-linter's library)."""

from __future__ import annotations

import collections
import os
import re
import sys
from pathlib import Path

import grimp

PACKAGES = ("identity", "mailstack", "provisioning")
SEAMS = {
    "Directory(...) built in provisioning": (r"\bDirectory\(", "provisioning"),
    "Layout(...) built in provisioning": (r"\bLayout\(", "provisioning"),
    "build_context(...) in provisioning": (r"\bbuild_context\(", "provisioning"),
    "classes inheriting AccountService": (r"class \w+\(AccountService\)", "provisioning"),
    "identity naming daemon errors": (r"DaemonError|VerificationError", "identity"),
}


def main(root: Path) -> None:
    os.chdir(root)
    sys.path.insert(0, str(root))
    sizes = {
        path: len(path.read_text().splitlines())
        for package in PACKAGES
        for path in sorted(Path(package).rglob("*.py"))
    }
    folders: dict[Path, list[int]] = collections.defaultdict(lambda: [0, 0])
    for path, lines in sizes.items():
        folders[path.parent][0] += 1
        folders[path.parent][1] += lines
    print("## folders (modules, lines)")
    for folder, (modules, lines) in sorted(folders.items()):
        print(f"  {folder}/: {modules} modules, {lines} lines")
    counts = sorted(sizes.values())
    print(f"## modules: {len(counts)}, {sum(counts)} lines, median {counts[len(counts) // 2]}")
    for path, lines in sorted(sizes.items(), key=lambda item: -item[1])[:8]:
        print(f"  {lines:5} {path}")
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False)
    modules = set(graph.modules)

    def folder_of(module: str) -> str:
        is_package = any(other.startswith(module + ".") for other in modules)
        return module if is_package else module.rsplit(".", 1)[0]

    edges: collections.Counter[tuple[str, str]] = collections.Counter()
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            pair = (folder_of(module), folder_of(imported))
            if pair[0] != pair[1]:
                edges[pair] += 1
    print("## imports between folders (module-level edges)")
    for (importer, imported), count in sorted(edges.items()):
        print(f"  {importer} -> {imported}: {count}")
    cycles = [
        (module, imported)
        for module in sorted(modules)
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.find_shortest_chain(importer=imported, imported=module)
    ]
    print(f"## modules in an import cycle: {len({m for pair in cycles for m in pair})}")
    print("## seams")
    for name, (pattern, package) in SEAMS.items():
        found = sum(
            len(re.findall(pattern, path.read_text()))
            for path in sizes
            if path.parts[0] == package and path.name != "layout.py"
        )
        print(f"  {name}: {found}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve())
