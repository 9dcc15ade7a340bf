# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The export floor: the least a client can do to dump every alert as JSON Lines.

    floor_export.py API_URL TOKEN_FILE CA_PATH DEST [--top 10000]

A bare ``requests`` loop over ``GET /api/alerts?$top=10000&$skip=N`` until a short page, writing each alert as one
compact JSON line (what alert_export wrote before it kept the service's own text of each alert). No retries, no
de-duplication, no atomic rename, no fsync: nothing a careful export does. Prints one JSON line: count, pages,
seconds (inside the process).
"""

import json
import sys
import time

import requests


def main():
    args = sys.argv[1:]
    top = 10000
    if "--top" in args:
        i = args.index("--top")
        top = int(args[i + 1])
        del args[i:i + 2]
    api_url, token_file, ca_path, dest = args
    with open(token_file, encoding="utf-8") as handle:
        token = handle.read().strip()
    start = time.perf_counter()
    session = requests.Session()
    headers = {"Authorization": "Bearer " + token, "Accept": "application/json"}
    count = pages = skip = 0
    with open(dest, "w", encoding="utf-8") as out:
        while True:
            response = session.get(api_url.rstrip("/") + "/api/alerts", params={"$top": top, "$skip": skip},
                                   headers=headers, verify=ca_path, timeout=120)
            response.raise_for_status()
            pages += 1
            values = response.json()["value"]
            for alert in values:
                out.write(json.dumps(alert, separators=(",", ":"), ensure_ascii=False))
                out.write("\n")
            count += len(values)
            if len(values) < top:
                break
            skip += top
    print(json.dumps({"count": count, "pages": pages, "seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    main()
