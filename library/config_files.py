"""A merged config written as one self-contained YAML file that `--config_file` loads back.

The file holds a `default` config set and, under `hyperparameter_sets`, the hyperparameter
sets, so it needs no other file and loads from any folder. Each key keeps its rule and help
as the comment after it (`[int >= 1] global training batch size`), so values given on top of
it are checked as they are against project.yaml, followed by the value's origin
(`<- set demo`).
"""
from library import config as config_lib
from library import config_rules, provenance

CONFIG_FILE_NAME = 'config.yaml'
COLUMN = 48


def key_line(key, value, rule, origin, indent):
    """Returns `key: value  # [spec] help  <- origin` indented by `indent`."""
    text = '%s%s: %s' % (indent, key, config_rules.yaml_scalar(value))
    comment = ' '.join(part for part in (rule.spec(), rule.help) if part) if rule else ''
    if origin:
        comment += config_lib.ORIGIN_MARK + origin
    return '%-*s  # %s' % (COLUMN, text, comment.strip()) if comment else text


def set_lines(config, keys, indent):
    """Returns the lines of a `default` set holding `keys` of `config`, indented by `indent`."""
    return ['%s%s:' % (indent, config_lib.DEFAULT_SET)] + [
        key_line(key, config[key], config.rules.get(key), config.origins.get(key), indent + '  ')
        for key in keys]


def to_yaml(config, header_lines):
    """Returns `config` as a self-contained config file headed by `header_lines` (comments)."""
    hyper_keys = [key for key in config if key in config.hyperparameter_keys]
    lines = ['# ' + line for line in header_lines]
    lines += set_lines(config, [key for key in config if key not in config.hyperparameter_keys], '')
    lines += ['%s:' % config_lib.HYPERPARAMETER_SETS] + set_lines(config, hyper_keys, '  ')
    hyper_set = config.get('hyperparameter_set') or config_lib.DEFAULT_SET
    if hyper_set != config_lib.DEFAULT_SET:
        lines.append('  %s: {}' % config_rules.yaml_scalar(str(hyper_set)))
    return '\n'.join(lines) + '\n'


def printed(config):
    """Returns what --print_config prints: the merged config with the origin of every value."""
    return to_yaml(config, [
        'Merged config of: %s' % config.command,
        'Load it back from any folder with: python run.py --config_file FILE '
        '(its hyperparameter_sets replace hyperparameter_file)',
        'After each value: [type, bounds or choices] help  <- where the value came from',
    ])


def saved_files(config):
    """Returns {file name: YAML text} that record and reproduce `config` with --config_file."""
    return {CONFIG_FILE_NAME: to_yaml(config, [
        'Written by: %s' % config.command,
        'Reproduce with: python run.py --config_file <this file>',
    ] + provenance.describe())}
