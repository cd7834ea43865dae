"""What a gateway's and a consumer's accounts at the MQTT broker must be: usernames, client
ids, roles and their ACLs, and the dynamic-security commands that make an account so
from what the broker holds now (only what differs).

Client ids beginning with `mes-` are the MES's own (its consumers'): no gateway is named
so, so no gateway can connect with a consumer's id and take over its session.
"""

from integration.gateways.keys import check_gateway_name

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
EVENTS_TOPIC = "mes/v1/gateways/{gateway}/events"
RESULTS_TOPIC = "mes/v1/gateways/{gateway}/results"
SHARED_EVENTS_SUBSCRIPTION = "$share/{group}/mes/v1/gateways/+/events"
CONSUMER_ROLE = "mes-ingest"

# Marks the broker clients this module manages, and records which key each was given: the
# MES keeps only a digest, so this prefix is how sync_broker_accounts tells a client that
# has the current key from one that still has a replaced one.
KEY_MARK = "mes-gateway-key:"
CONSUMER_MARK = "MES MQTT consumer"
CLIENT_EXISTS = "Client already exists"
CLIENT_NOT_FOUND = "Client not found"
ROLE_NOT_FOUND = "Role not found"


class BrokerAccountError(Exception):
    """The broker could not be reached, refused the admin, or refused a command."""


def gateway_role(name: str) -> str:
    """The broker role of the gateway `name`: its own topics, nobody else's."""
    return f"mes-gateway-{name}"


def gateway_client_id(name: str) -> str:
    """The one MQTT client id the broker accepts from the gateway `name`: its name.

    The plugin binds one client id to an account; a gateway needing two connections at
    once needs two gateways (docs/mqtt-broker.md).
    """
    return name


def gateway_acls(name: str) -> list[dict]:
    """The gateway's ACLs: publish to its events topic, subscribe to and receive its results.

    Results may also go to a Response Topic under its results topic (MQTT 5
    request/response), hence the `/#`, which matches the results topic itself too. The
    receive denial of every other gateway's topics holds even if a subscription slipped by.
    """
    try:
        check_gateway_name(name)
    except ValueError as error:
        raise BrokerAccountError(str(error)) from error
    results = RESULTS_TOPIC.format(gateway=name)
    return [
        _acl("publishClientSend", EVENTS_TOPIC.format(gateway=name), allow=True, priority=1),
        _acl("subscribePattern", f"{results}/#", allow=True, priority=1),
        _acl("publishClientReceive", f"{results}/#", allow=True, priority=1),
        _acl("publishClientReceive", "mes/v1/gateways/#", allow=False, priority=0),
    ]


def consumer_acls(share_group: str = "mes-ingest") -> list[dict]:
    """The MES consumer's ACLs: the shared subscription to every events topic, and results."""
    subscription = SHARED_EVENTS_SUBSCRIPTION.format(group=share_group)
    return [
        _acl("subscribePattern", subscription, allow=True, priority=1),
        _acl("publishClientReceive", "mes/v1/gateways/+/events", allow=True, priority=1),
        _acl("publishClientSend", "mes/v1/gateways/+/results/#", allow=True, priority=1),
    ]


def _acl(acltype: str, topic: str, *, allow: bool, priority: int) -> dict:
    return {"acltype": acltype, "topic": topic, "allow": allow, "priority": priority}


def _acl_key(acl: dict) -> tuple[str, str]:
    # The plugin keeps one ACL per type and topic.
    return (str(acl.get("acltype", "")).lower(), acl.get("topic", ""))


def _pick(mapping: dict, *keys: str) -> dict:
    return {key: mapping[key] for key in keys}


def _acl_setting(acl: dict) -> tuple[bool, int]:
    return (bool(acl.get("allow", False)), int(acl.get("priority", 0)))


def role_commands(rolename: str, acls: list[dict], current: dict | None) -> list[dict]:
    """The commands that give the role exactly `acls`, from `current` (the role as the
    broker describes it; None: there is none): none when it has them already."""
    if current is None:
        return [{"command": "createRole", "rolename": rolename, "acls": acls}]
    have = {_acl_key(acl): acl for acl in current.get("acls", [])}
    want = {_acl_key(acl): acl for acl in acls}

    def differs(acl, other):
        return other is None or _acl_setting(acl) != _acl_setting(other)

    # An ACL of the same type and topic with another setting must go before it is added.
    removals = [
        {"command": "removeRoleACL", "rolename": rolename, **_pick(acl, "acltype", "topic")}
        for key, acl in have.items()
        if differs(acl, want.get(key))
    ]
    additions = [
        {"command": "addRoleACL", "rolename": rolename, **acl}
        for key, acl in want.items()
        if differs(acl, have.get(key))
    ]
    return removals + additions


def client_commands(username: str, current: dict, rolename: str, clientid: str | None):
    """The commands that give an existing client (`current`, as the broker describes it)
    exactly the role `rolename`, the client id `clientid` (None: any), and enable it:
    none when it is so already."""
    commands = []
    if [role.get("rolename") for role in current.get("roles", [])] != [rolename]:
        commands.append(
            {
                "command": "modifyClient",
                "username": username,
                "roles": [{"rolename": rolename, "priority": 1}],
            }
        )
    if current.get("clientid") != clientid:  # the broker omits an unset client id
        command = {"command": "setClientId", "username": username}
        if clientid is not None:
            command["clientid"] = clientid
        commands.append(command)
    if current.get("disabled"):
        commands.append({"command": "enableClient", "username": username})
    return commands
