package team

import rego.v1

warn contains "team: no owner" if not input.owner
