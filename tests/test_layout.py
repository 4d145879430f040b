"""The shape the scaffold promises: project/ a recipe small enough to read in one sitting, library/ never
importing it, and no import cycles."""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ('library', 'project')
PROJECT_MAX_LINES = 1000  # the whole recipe
PROJECT_FILE_MAX_LINES = 300
LIBRARY_FILE_MAX_LINES = 400


def module_files():
    """Returns {dotted module name: path} of every Python module in PACKAGES."""
    modules = {}
    for package in PACKAGES:
        for folder, _, names in os.walk(os.path.join(ROOT, package)):
            for name in names:
                if name.endswith('.py'):
                    path = os.path.join(folder, name)
                    dotted = os.path.relpath(path, ROOT)[:-len('.py')].replace(os.sep, '.')
                    modules[dotted.removesuffix('.__init__')] = path
    return modules


def imported_modules(path, known):
    """Returns the modules of `known` that the file at `path` imports (anywhere in it, functions included)."""
    imported = set()
    for node in ast.walk(ast.parse(open(path, encoding='utf-8').read(), path)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + ['%s.%s' % (node.module, alias.name) for alias in node.names]
        else:
            continue
        imported.update(name for name in names if name in known)
    return imported


def import_graph():
    modules = module_files()
    return {name: imported_modules(path, modules) for name, path in modules.items()}


def find_cycle(graph):
    """Returns one import cycle as a list of module names, or None."""
    state = {}

    def visit(module, path):
        state[module] = 'open'
        for imported in sorted(graph[module]):
            if state.get(imported) == 'open':
                return path[path.index(imported):] + [imported]
            if imported not in state:
                cycle = visit(imported, path + [imported])
                if cycle:
                    return cycle
        state[module] = 'done'
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module, [module])
            if cycle:
                return cycle
    return None


def test_library_never_imports_project():
    graph = import_graph()
    offenders = sorted('%s imports %s' % (module, imported)
                       for module, imports in graph.items() if module.startswith('library')
                       for imported in imports if imported.startswith('project'))
    assert offenders == []


def test_no_import_cycles():
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) is None


def line_count(path):
    with open(path, encoding='utf-8') as stream:
        return sum(1 for _ in stream)


def test_the_recipe_is_small_and_every_module_short():
    modules = module_files()
    project = {name: line_count(path) for name, path in modules.items() if name.startswith('project')}
    assert sum(project.values()) < PROJECT_MAX_LINES, project
    assert {name: lines for name, lines in project.items() if lines > PROJECT_FILE_MAX_LINES} == {}
    library = {name: line_count(path) for name, path in modules.items() if name.startswith('library')}
    assert {name: lines for name, lines in library.items() if lines > LIBRARY_FILE_MAX_LINES} == {}
