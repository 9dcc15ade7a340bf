#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: live_response_library
short_description: Keep scripts and files in the live response library
description:
  - Declares one file of the tenant's live response library (the scripts C(RunScript) runs and the files C(PutFile)
    copies to a machine) as present, from a local file, or absent; without O(name) it only lists the library.
  - Idempotent by content. The library is read first; a file is uploaded only when no file of that name exists, or
    when its SHA-256 or the metadata you set (O(description), O(has_parameters), O(parameters_description)) differ,
    and then it replaces the old one (C(OverrideIfExists)). A rerun uploads nothing.
  - An upload whose answer was lost is never sent again; the library is read back, and the upload counts as done when
    the file of that name has the local file's hash.
version_added: 0.4.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  name:
    description:
      - The file's name in the library (letters, digits, V(-), V(_) and V(.)), as C(RunScript) and C(PutFile)
        commands name it. Defaults to the base name of O(src).
      - Without O(name) and O(src) the module only lists the library.
    type: str
  src:
    description:
      - The local file to upload (at most 20 MB, the API's limit). Required with O(state=present).
      - A relative path is resolved against the directory Ansible runs the module in (the one you ran
        C(ansible-playbook) from on C(localhost)); never against the collection.
    type: path
  state:
    description:
      - V(present) uploads the file when it is missing or differs; V(absent) deletes it when it exists.
    type: str
    choices: [present, absent]
    default: present
  description:
    description:
      - The library entry's description. Not compared when unset.
    type: str
  has_parameters:
    description:
      - Whether the script takes parameters (C(HasParameters)). Not compared when unset.
    type: bool
  parameters_description:
    description:
      - How to call the script (C(ParametersDescription)). Not compared when unset.
    type: str
notes:
  - "Permission: C(Library.Manage) (Manage live response library)."
  - The service keeps no history of library changes; O(state=absent) removes the file for every live response user of
    the tenant.
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.attributes.action
"""

EXAMPLES = r"""
- name: The triage script is in the library (uploaded only when it changed)
  defender.endpoint.live_response_library:
    src: files/collect_triage.ps1
    description: Collects triage data into C:\Windows\Temp\triage.zip
    has_parameters: true
    parameters_description: "-Days <n>"

- name: Remove an old tool
  defender.endpoint.live_response_library:
    name: old_tool.exe
    state: absent

- name: List the library
  defender.endpoint.live_response_library:
  register: library
"""

RETURN = r"""
file:
  description: The library entry after the task (in check mode, as it would be; V(null) when absent or when listing).
  returned: always
  type: dict
  sample:
    fileName: collect_triage.ps1
    sha256: 5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef
    description: Collects triage data
    hasParameters: true
    parametersDescription: "-Days <n>"
    creationTime: "2026-12-04T10:00:00.000Z"
    lastUpdatedTime: "2026-12-04T10:00:00.000Z"
    createdBy: incident-response-app
action:
  description: What was (or in check mode, would be) done, V(uploaded), V(replaced), V(deleted) or V(none).
  returned: always
  type: str
  sample: uploaded
differences:
  description: The fields that differed from the wanted file (V(fileName) when it was missing).
  returned: always
  type: list
  elements: str
  sample: [sha256]
library:
  description: Every file in the library after the task, by name.
  returned: always
  type: list
  elements: dict
  sample:
    - fileName: collect_triage.ps1
      sha256: 5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef
msg:
  description: A one-line summary.
  returned: always
  type: str
  sample: "collect_triage.ps1: uploaded"
"""

import os

from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError
from ansible_collections.defender.endpoint.plugins.module_utils import live_response as LR


def _plan(params):
    """(name, src, sha256, size) from the options, checked before any request."""
    src = params.get("src")
    name = params.get("name") or (os.path.basename(src) if src else None)
    if name is None:
        return None, None, None, None
    LR.check_library_name(name, "name" if params.get("name") else "the base name of src")
    if params["state"] == "absent":
        return name, None, None, None
    if not src:
        raise DefenderConfigError("state=present needs src, the local file to upload")
    if not os.path.isfile(src):
        raise DefenderConfigError("src %s is not a regular file" % src)
    sha256, size = LR.file_digest(src)
    if size > LR.MAX_LIBRARY_BYTES:
        raise DefenderConfigError("src is %d bytes; the live response library takes at most 20 MB" % size)
    return name, src, sha256, size


def run(module):
    params = module.params
    name, src, sha256, _size = _plan(params)
    client = module.client()
    library = LR.read_library(client)
    if name is None:
        module.exit(changed=False, action="none", file=None, differences=[],
                    library=[LR.entry_view(e) for e in library.values()], msg="%d files in the library" % len(library))
    current = library.get(name.lower())
    meta = dict(description=params.get("description"), has_parameters=params.get("has_parameters"),
                parameters_description=params.get("parameters_description"))
    if params["state"] == "absent":
        differs = ["fileName"] if current is not None else []
        action = "deleted" if current is not None else "none"
        after = None
        if current is not None and not module.check_mode:
            LR.delete(client, current["fileName"])
        if current is not None:
            library.pop(name.lower())
    else:
        differs = LR.differences(current, sha256, **meta)
        action = "none" if not differs else ("uploaded" if current is None else "replaced")
        after = current
        if differs:
            after = dict(current or {}, fileName=name, sha256=sha256)
            after.update({k: v for k, v in (("description", meta["description"]),
                                            ("hasParameters", meta["has_parameters"]),
                                            ("parametersDescription", meta["parameters_description"]))
                          if v is not None})
            if not module.check_mode:
                after = LR.upload(client, name, src, override=current is not None, **meta)
            library[name.lower()] = after
    result = dict(changed=action != "none", action=action, file=LR.entry_view(after), differences=differs,
                  library=[LR.entry_view(e) for e in library.values()], msg="%s: %s" % (name, action))
    if module.diff:
        result["diff"] = {"before": LR.entry_view(current) or {}, "after": LR.entry_view(after) or {}}
    module.exit(**result)


def main():
    module = DefenderModule(
        argument_spec=dict(
            name=dict(type="str"),
            src=dict(type="path"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            description=dict(type="str"),
            has_parameters=dict(type="bool"),
            parameters_description=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    module.run(run)


if __name__ == "__main__":
    main()
