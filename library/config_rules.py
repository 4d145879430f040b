"""What one config key accepts: the type of its default, element types, bounds and choices."""
import re

import yaml

TYPE_NAMES = {'int': int, 'float': float, 'str': str, 'list': list, 'bool': bool}
NULLABLE = 'nullable'
COMPARISONS = {'>=': lambda a, b: a >= b, '>': lambda a, b: a > b,
               '<=': lambda a, b: a <= b, '<': lambda a, b: a < b}


class KeyRule:
    """What a key accepts: the type of its default, and bounds and choices.

    A key's comment may start with `[...]` holding a type name (needed when the
    default is null), `list of TYPE` (the elements of a list whose default is
    empty; otherwise the default's first element gives their type), `nullable`
    (null is accepted although the default is not null), bounds such as `>= 1`
    and choices such as `min|max`.
    """

    def __init__(self, default, comment=''):
        self.example = default
        self.nullable = default is None
        self.bounds = []
        self.choices = None
        self.element = default[0] if isinstance(default, list) and default else None
        match = re.match(r'^\[([^\]]*)\]\s*(.*)$', comment)
        self.help = match.group(2) if match else comment
        spec = match.group(1) if match else ''
        tokens = re.findall(r'[<>]=?\s*-?[\d.]+(?:e[+-]?\d+)?|[^\s,]+', spec)
        for position, token in enumerate(tokens):
            if token == 'of':
                continue
            if token in TYPE_NAMES and position and tokens[position - 1] == 'of':
                self.element = TYPE_NAMES[token]()
            elif token in TYPE_NAMES:
                self.example = TYPE_NAMES[token]()
            elif token == NULLABLE:
                self.nullable = True
            elif token[0] in '<>':
                operator = re.match(r'[<>]=?', token).group(0)
                self.bounds.append((operator, float(token[len(operator):])))
            else:
                self.choices = [yaml.safe_load(choice) for choice in token.split('|')]

    def problem(self, value):
        """Returns what is wrong with `value` as a phrase, or None when it is fine."""
        if value is None:
            return None if self.nullable else 'must be %s, not null' % type_name(self.example)
        if not type_matches(value, self.example):
            return 'must be %s, got %r' % (type_name(self.example), value)
        if isinstance(value, list) and self.element is not None:
            wrong = [item for item in value if not type_matches(item, self.element)]
            if wrong:
                return 'must be a list whose elements are each %s, got %r in %r' % (
                    type_name(self.element), wrong[0], value)
        if self.choices and value not in self.choices:
            return 'must be one of %s, got %r' % ('|'.join(map(str, self.choices)), value)
        for operator, bound in self.bounds:
            if not COMPARISONS[operator](value, bound):
                return 'must be %s %s, got %r' % (operator, number_text(bound), value)
        return None

    def spec(self):
        """Returns the `[...]` that rebuilds this rule whatever the default: type (and element type),
        nullable, bounds, choices."""
        parts = [name for name, kind in TYPE_NAMES.items() if type(self.example) is kind]
        if self.element is not None:
            parts += ['of'] + [name for name, kind in TYPE_NAMES.items() if type(self.element) is kind]
        if self.nullable:
            parts.append(NULLABLE)
        parts += ['%s %s' % (operator, number_text(bound)) for operator, bound in self.bounds]
        if self.choices:
            parts.append('|'.join(yaml_scalar(choice) for choice in self.choices))
        return '[%s]' % ' '.join(parts) if parts else ''


def number_text(bound):
    """Returns a bound as written: 1 rather than 1.0."""
    return str(int(bound)) if bound.is_integer() else repr(bound)


def type_matches(value, default):
    """Whether `value` has the type of `default` (None defaults accept anything)."""
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, type(default))


def type_name(default):
    names = {bool: 'true or false', int: 'an integer', float: 'a number',
             str: 'a string', list: 'a list'}
    return names.get(type(default), type(default).__name__)


def yaml_scalar(value):
    """Returns `value` as one line of flow-style YAML."""
    return yaml.safe_dump(value, default_flow_style=True, width=float('inf')).strip().removesuffix(
        '...').strip()
