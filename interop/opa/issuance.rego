# The issuance policy the OPA interop test loads (issue 17): no write scopes on closed days.
# The kit's createOpaPolicy POSTs {"input": PolicyInput} to /v1/data/aauth/issuance/decision and
# reads `result`: {"allow": true}, {"allow": true, "scopes": [...]} (narrowed) or
# {"allow": false, "reason": "..."} (shown to the agent and written to the audit).
package aauth.issuance

# Closed days: data.aauth_config.closed_days when someone put it there (PUT /v1/data/aauth_config),
# else Friday. The day is taken from input.time (the auth server's clock, epoch seconds, UTC).
default closed_days := ["Friday"]

closed_days := data.aauth_config.closed_days

day := time.weekday(input.time * 1000000000)

writes := [s | some s in input.scopes; endswith(s, ":write")]

others := [s | some s in input.scopes; not endswith(s, ":write")]

closed if day in closed_days

default decision := {"allow": true}

# Reads and writes asked on a closed day: the writes are narrowed away.
decision := {"allow": true, "scopes": others} if {
	closed
	count(writes) > 0
	count(others) > 0
}

# Writes alone on a closed day: denied, and the agent is told why.
decision := {"allow": false, "reason": sprintf("writes (%s) are not issued on %ss", [concat(" ", writes), day])} if {
	closed
	count(writes) > 0
	count(others) == 0
}
