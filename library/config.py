"""Configuration sets: YAML files of named sets merged with command-line flags.

Precedence is command line > selected set > `default` set, for the config file
(`project.yaml`) and the hyperparameter file (`hyperparameters.yaml`) alike.
The `default` set of each file defines the known keys; its values fix their
types and the comment after each key is the flag's help text.
"""
import argparse
import difflib
import os
import re
import shlex
import sys

import yaml

from library.config_rules import KeyRule, yaml_scalar

DEFAULT_SET = 'default'
INHERITS_KEY = 'inherits'
COMMAND_LINE = 'command line'
# A config file may hold its hyperparameter sets under this top-level key (a self-contained
# file such as --print_config writes); they are then used instead of hyperparameter_file.
HYPERPARAMETER_SETS = 'hyperparameter_sets'
# Written files note each value's origin after the help text: `# [int >= 1] help  <- set demo`.
ORIGIN_MARK = '  <- '


class ConfigError(Exception):
    """A configuration problem, reported as one line and exit code 2."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML loader (no Python object tags) that rejects duplicate keys."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == 'tag:yaml.org,2002:merge':
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, 'duplicate key %r' % (key,), key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path):
    """Returns the parsed YAML mapping in `path`, or raises ConfigError."""
    try:
        with open(path, encoding='utf-8') as stream:
            text = stream.read()
    except FileNotFoundError:
        raise ConfigError('%s: file not found' % path) from None
    except OSError as error:
        raise ConfigError('%s: cannot read (%s)' % (path, error.strerror)) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = ', line %d' % (mark.line + 1) if mark else ''
        raise ConfigError('%s%s: invalid YAML: %s' % (
            path, where, error.problem or error.context)) from None
    except yaml.YAMLError as error:
        raise ConfigError('%s: invalid YAML: %s' % (path, error)) from None
    if not isinstance(data, dict):
        raise ConfigError('%s: expected a mapping of set names to sets, got %s' % (
            path, type(data).__name__))
    return data


def section_lines(lines, section):
    """Returns the lines of the top-level mapping `section`, with its indentation removed."""
    inside, body = False, []
    for line in lines:
        if re.match(r'^%s\s*:' % re.escape(section), line):
            inside = True
        elif inside and re.match(r'^[^\s#]', line):
            break
        elif inside:
            body.append(line)
    indents = [len(line) - len(line.lstrip()) for line in body if line.strip()
               and not line.lstrip().startswith('#')]
    cut = min(indents, default=0)
    return [line[cut:] for line in body]


def read_comments(path, section=None):
    """Returns {key: comment} for the keys of the default set in `path` (or in its `section`).

    Origin notes (ORIGIN_MARK and what follows) of written files are left out.
    """
    with open(path, encoding='utf-8') as stream:
        lines = stream.read().splitlines()
    if section is not None:
        lines = section_lines(lines, section)
    comments = {}
    in_default = False
    for line in lines:
        if re.match(r'^%s\s*:' % DEFAULT_SET, line):
            in_default = True
        elif re.match(r'^\S', line) and not line.startswith('#'):
            in_default = False
        match = re.match(r'^\s+(\w+)\s*:.*?#\s*(.+)$', line)
        if in_default and match:
            comments[match.group(1)] = re.split(r'\s+<-\s', match.group(2))[0].strip()
    return comments


class SetFile:
    """One YAML file of named sets (or its top-level `section`); `default` defines the keys and their types.

    `embeds_hyperparameters` says whether the file also holds HYPERPARAMETER_SETS, which are
    not sets of this file.
    """

    def __init__(self, path, kind, section=None):
        self.path = path
        self.kind = kind
        data = read_yaml(path)
        self.embeds_hyperparameters = section is None and HYPERPARAMETER_SETS in data
        if section is None:
            self.sets = {name: values for name, values in data.items() if name != HYPERPARAMETER_SETS}
        elif isinstance(data.get(section), dict):
            self.sets = data[section]
        else:
            raise ConfigError('%s: %s must be a mapping of set names to sets' % (path, section))
        for name, values in self.sets.items():
            if not isinstance(values, dict):
                raise ConfigError('%s: %s set %r must be a mapping of keys to values, got %s' % (
                    path, kind, name, type(values).__name__))
        if DEFAULT_SET not in self.sets:
            raise ConfigError('%s: no %r set (it defines the known %s keys)' % (
                path, DEFAULT_SET, kind))
        self.defaults = self.resolve(DEFAULT_SET)
        comments = read_comments(path, section)
        self.rules = {key: KeyRule(value, comments.get(key, key))
                      for key, value in self.defaults.items()}
        for key, value in self.defaults.items():
            self.check_value(key, value, '%s set %r' % (kind, DEFAULT_SET))

    def resolve(self, name, chain=()):
        """Returns the values of set `name` with `inherits:` parents merged in."""
        if name not in self.sets:
            raise ConfigError('%s: unknown %s set %r; available sets: %s' % (
                self.path, self.kind, name, ', '.join(sorted(self.sets))))
        if name in chain:
            raise ConfigError('%s: %s set inheritance cycle: %s' % (
                self.path, self.kind, ' -> '.join(chain + (name,))))
        values = dict(self.sets[name])
        parent = values.pop(INHERITS_KEY, None)
        if parent is None:
            return values
        merged = self.resolve(str(parent), chain + (name,))
        merged.update(values)
        return merged

    def layers(self, name):
        """Returns [(origin, values)] from lowest to highest precedence, type-checked."""
        selected = self.resolve(name)
        for key, value in selected.items():
            self.check_value(key, value, '%s set %r' % (self.kind, name))
        own = {key: value for key, value in selected.items()
               if key not in self.defaults or value != self.defaults[key]}
        result = [(DEFAULT_SET, self.defaults)]
        if name != DEFAULT_SET:
            result.append((name, own))
        return result

    def check_value(self, key, value, where):
        """Raises ConfigError if `key` is unknown or `value` is not accepted."""
        if key not in self.defaults:
            raise ConfigError('%s: unknown key %r in %s%s' % (
                self.path, key, where, suggestion(key, self.defaults)))
        problem = self.rules[key].problem(value)
        if problem:
            raise ConfigError('%s: %s in %s %s' % (self.path, key, where, problem))


def suggestion(key, known):
    """Returns '; did you mean X?' for the closest known key, or ''."""
    close = difflib.get_close_matches(key, list(known), n=1)
    return '; did you mean %r?' % close[0] if close else ''


def parse_bool(text):
    lowered = text.lower()
    if lowered in ('true', 'yes', '1', 'on'):
        return True
    if lowered in ('false', 'no', '0', 'off'):
        return False
    raise argparse.ArgumentTypeError('expected true or false, got %r' % text)


def flag_type(example, nullable):
    """Returns the argparse converter for a key whose values look like `example`."""
    def convert(text):
        if nullable and text.lower() in ('null', 'none', '~'):
            return None
        if isinstance(example, bool):
            return parse_bool(text)
        if isinstance(example, (int, float, str)):
            return type(example)(text)
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise argparse.ArgumentTypeError('expected a YAML value, got %r' % text) from None
        if isinstance(example, list) and not isinstance(value, list):
            raise argparse.ArgumentTypeError('expected a YAML list such as [1, 2], got %r' % text)
        return value
    convert.__name__ = type(example).__name__
    return convert


class OneLineParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr and exit code 2."""

    def error(self, message):
        self.exit(2, '%s: error: %s\n' % (self.prog, message))


def add_run_arguments(parser):
    """Adds the arguments that select files and sets (not config keys)."""
    parser.add_argument('--config_file', default='project.yaml',
                        help='YAML file of configuration sets')
    parser.add_argument('--config_set', default=DEFAULT_SET,
                        help='configuration set to use from --config_file')
    parser.add_argument('--print_config', action='store_true',
                        help='print the merged configuration with the origin of every value and exit')


def add_key_flags(parser, set_file):
    """Adds a --key flag for every key of `set_file`'s default set."""
    group = parser.add_argument_group('%s keys (%s)' % (set_file.kind, set_file.path))
    for key, rule in set_file.rules.items():
        default = rule.example
        help_text = '%s (default: %s)' % (rule.help, yaml_scalar(set_file.defaults[key]))
        if isinstance(default, bool):
            group.add_argument('--' + key, nargs='?', const=True, type=parse_bool,
                               default=argparse.SUPPRESS, metavar='BOOL', help=help_text)
            group.add_argument('--no-' + key, dest=key, action='store_false',
                               default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        else:
            group.add_argument('--' + key, type=flag_type(default, rule.nullable),
                               default=argparse.SUPPRESS, help=help_text,
                               metavar='VALUE' if default is None else type(default).__name__.upper())


class Config(dict):
    """Merged configuration: a dict of values plus the origin and the KeyRule of each value."""

    def __init__(self, values, origins, command, hyperparameter_keys, rules=None):
        super().__init__(values)
        self.origins = origins
        self.command = command
        self.hyperparameter_keys = set(hyperparameter_keys)
        self.rules = rules or {}


def merge(set_file, set_name, overrides, values=None, origins=None):
    """Merges `set_file`'s default set, set `set_name` and `overrides` (in that order)."""
    values = {} if values is None else values
    origins = {} if origins is None else origins
    for origin, layer in set_file.layers(set_name):
        for key, value in layer.items():
            values[key] = value
            origins[key] = '%s (%s)' % (origin, set_file.kind) if origin == DEFAULT_SET else (
                'set %s' % origin)
    for key in set_file.defaults:
        if key in overrides:
            problem = set_file.rules[key].problem(overrides[key])
            if problem:
                raise ConfigError('--%s %s' % (key, problem))
            values[key] = overrides[key]
            origins[key] = COMMAND_LINE
    return values, origins


def resolve_relative(path, base_file):
    """Returns `path` relative to the folder of `base_file` unless it is absolute or remote."""
    if os.path.isabs(path) or '://' in path:
        return path
    return os.path.join(os.path.dirname(base_file), path)


def build_parser(prog, description, add_extra_arguments, argv):
    """Returns (parser, config file, hyperparameter file) for `argv`."""
    pre = OneLineParser(add_help=False)
    add_run_arguments(pre)
    pre.add_argument('--hyperparameter_file')
    pre.add_argument('--hyperparameter_set')
    known, _ = pre.parse_known_args(argv)
    config_file = SetFile(known.config_file, 'config')
    if config_file.embeds_hyperparameters and not known.hyperparameter_file:
        hyper_file = SetFile(known.config_file, 'hyperparameter', section=HYPERPARAMETER_SETS)
    else:
        selected = config_file.resolve(known.config_set)
        hyper_path = known.hyperparameter_file or resolve_relative(
            str(selected.get('hyperparameter_file') or config_file.defaults.get(
                'hyperparameter_file', 'hyperparameters.yaml')), known.config_file)
        hyper_file = SetFile(hyper_path, 'hyperparameter')
    clash = set(config_file.defaults) & set(hyper_file.defaults)
    if clash:
        raise ConfigError('%s and %s both define %s' % (
            config_file.path, hyper_file.path, ', '.join(sorted(clash))))
    parser = OneLineParser(prog=prog, description=description)
    add_run_arguments(parser)
    add_extra_arguments(parser)
    add_key_flags(parser, config_file)
    add_key_flags(parser, hyper_file)
    return parser, config_file, hyper_file


def parse(argv=None, prog='run.py', description=None, add_extra_arguments=lambda parser: None):
    """Parses `argv`; returns (run-time arguments, merged Config).

    Raises ConfigError for bad files, sets, keys or values.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser, config_file, hyper_file = build_parser(prog, description, add_extra_arguments, argv)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        flag = unknown[0]
        key = flag.lstrip('-').split('=')[0]
        known = list(config_file.defaults) + list(hyper_file.defaults)
        raise ConfigError('unknown option %r%s' % (flag, suggestion(key, known)))
    overrides = {key: value for key, value in vars(args).items()
                 if key in config_file.defaults or key in hyper_file.defaults}
    values, origins = merge(config_file, args.config_set, overrides)
    hyper_set = str(values.get('hyperparameter_set') or DEFAULT_SET)
    values, origins = merge(hyper_file, hyper_set, overrides, values, origins)
    values['hyperparameter_file'] = hyper_file.path
    command = shlex.join(['python', prog] + argv)
    return args, Config(values, origins, command, hyper_file.defaults,
                        rules=dict(config_file.rules, **hyper_file.rules))


def to_flags(values):
    """Returns the command-line flags ['--key', 'value', ...] that set `values` (None values left out)."""
    return [part for key, value in values.items() if value is not None
            for part in ('--' + key, str(value))]
