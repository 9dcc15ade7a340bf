# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: user_path
short_description: A user's path, made absolute against the directory ansible-playbook was started from
description:
  - Expands C(~) and makes a relative path absolute against the working directory of the controller process,
    the directory the user ran C(ansible-playbook) from (in AWX and EDA controller, the job's project folder).
  - Unlike C(ansible.builtin.realpath), it does not follow symbolic links, so that a module writing to the path can
    refuse a symbolic link there instead of writing where it points.
  - The collection's playbooks pass every path the user gives through it, since Ansible otherwise resolves a relative
    path against the installed collection's C(playbooks/) folder (modules run there with a local connection, and
    lookups search there).
version_added: 0.4.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  _input:
    description: The path as the user gave it.
    type: path
    required: true
"""

EXAMPLES = r"""
- name: Where -e dest=./INC-1234 means, whatever folder the playbook is in
  ansible.builtin.debug:
    msg: "{{ dest | defender.endpoint.user_path }}"
"""

RETURN = r"""
_value:
  description: The absolute path, with C(.) and C(..) folded and symbolic links left as they are.
  type: path
"""

import os

from ansible.errors import AnsibleFilterError


def user_path(path):
    """``path`` made absolute against the controller's working directory (where ansible-playbook was run)."""
    if not isinstance(path, str) or not path.strip():
        raise AnsibleFilterError("defender.endpoint.user_path: a path must be a non-empty string, got %r" % (path,))
    return os.path.normpath(os.path.join(os.getcwd(), os.path.expanduser(path)))


class FilterModule:
    def filters(self):
        return {"user_path": user_path}
