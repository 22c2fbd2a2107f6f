"""``OUT/alertmanager.yaml``: routing, inhibition and mute intervals for every spec (Alertmanager 0.25).

- Each service has a route (``service="<name>"``) grouped by the spec's ``group_by``, with a page
  child (``severity="critical"``) and a ticket child (``severity="warning"``) to the receivers the
  spec names. Secrets stay in files (``*_file`` fields); the user fills the placeholders.
- Inhibition: a page silences the tickets of the same model, or of the same SLO; a Triton that is
  down silences the per-model alerts of its service. Alertmanager counts a label missing on both
  sides as equal, so every label in ``equal`` is also required (``=~".+"``) in both matchers:
  otherwise two alerts without ``slo`` would count as "the same SLO".
- Mute intervals of the spec become ``time_intervals`` muting the routes of their severities.
- A spec may give its SLO page or ticket alerts a ``severity`` of its own (Sloth's ``page_alert``
  labels, e.g. ``pageteam``): that value is routed and inhibited as a page (or ticket) too, so
  the page and ticket matchers become ``severity=~"critical|pageteam"``.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass

from triton_slo.errors import UserError
from triton_slo.model import Receiver, Spec
from triton_slo.names import (
    ALERT_PREFIX,
    EXPORTER_UPSTREAM_DOWN,
    SERVER_DOWN,
    UPSTREAM_TRITON,
    UPSTREAM_TRITON_API,
)
from triton_slo.names import PAGE_SEVERITY as PAGE
from triton_slo.names import TICKET_SEVERITY as TICKET

OURS = f'alertname=~"{ALERT_PREFIX}.+"'
PLACEHOLDER_WEBHOOK = "http://alert-receiver.invalid/triton-slo"  # .invalid never resolves (RFC 2606)
PLACEHOLDER_SMTP = {"smtp_smarthost": "smtp.example.com:587", "smtp_from": "alertmanager@example.com"}
# (group_wait, group_interval, repeat_interval): pages fast and repeated, tickets batched.
TIMING = {PAGE: ("30s", "5m", "4h"), TICKET: ("2m", "15m", "24h")}


def present(*labels: str) -> list[str]:
    """Matchers requiring labels to be set (the equal-labels-missing-on-both-sides trap)."""
    return [f'{label}=~".+"' for label in labels]


def severity_matcher(values: list[str]) -> str:
    """``severity="critical"``, or a regex matcher when a spec adds values of its own."""
    if len(values) == 1:
        return f'severity="{values[0]}"'
    return 'severity=~"' + "|".join(_literal_regex(v) for v in values) + '"'


def _literal_regex(value: str) -> str:
    # RE2 metacharacters go in character classes: no backslash for the matcher string to unescape.
    return "".join(f"[{c}]" if c in ".+*?()|{}^$" else c for c in value)


UNROUTABLE = '[]\\"\n'  # characters a severity value cannot hold in a generated matcher


def severities(specs: list[Spec]) -> tuple[list[str], list[str]]:
    """The severity values that mean a page and a ticket: ``critical`` and ``warning``, plus those
    the specs give their SLO page or ticket alerts (one value cannot mean both)."""
    name = {PAGE: "page", TICKET: "ticket"}
    meaning: dict[str, tuple[str, str]] = {PAGE: (PAGE, "triton-slo"), TICKET: (TICKET, "triton-slo")}
    for spec in specs:
        for slo in spec.slos:
            for kind, labels in ((PAGE, slo.alerting.page_labels), (TICKET, slo.alerting.ticket_labels)):
                value = labels.get("severity")
                if value is None:
                    continue
                where = f"{spec.path or spec.service.name}: SLO {slo.name!r}"
                if any(c in value for c in UNROUTABLE):
                    raise UserError(f"{where}: {name[kind]} severity {value!r} cannot be routed: it holds one of "
                                    f"{UNROUTABLE!r}")
                known = meaning.setdefault(value, (kind, where))
                if known[0] != kind:
                    raise UserError(f"{where}: {name[kind]} alerts with severity {value!r} cannot be routed: "
                                    f"{known[1]} uses it for {name[known[0]]} alerts")
    page = [v for v, (kind, _) in meaning.items() if kind == PAGE]
    ticket = [v for v, (kind, _) in meaning.items() if kind == TICKET]
    return page, ticket


def inhibit_rules(page: str = f'severity="{PAGE}"', ticket: str = f'severity="{TICKET}"') -> list[dict]:
    """Inhibition for every service at once: ``service`` is always among the equal labels.

    ``page`` and ``ticket`` are the severity matchers (see ``severities``)."""
    return [
        {   # a page on a model silences that model's tickets (ops and SLO alike)
            "source_matchers": [OURS, page, *present("service", "model")],
            "target_matchers": [OURS, ticket, *present("service", "model")],
            "equal": ["service", "model", "version"],
        },
        {   # a service-wide SLO page silences every ticket of that SLO
            "source_matchers": [OURS, page, *present("service", "slo"), 'model=""'],
            "target_matchers": [OURS, ticket, *present("service", "slo")],
            "equal": ["service", "slo"],
        },
        {   # any page of an SLO silences that SLO's service-wide ticket
            "source_matchers": [OURS, page, *present("service", "slo")],
            "target_matchers": [OURS, ticket, *present("service", "slo"), 'model=""'],
            "equal": ["service", "slo"],
        },
        {   # a GPU page (OOM, lost) silences that GPU's tickets (headroom, throttling)
            "source_matchers": [OURS, page, *present("service", "UUID")],
            "target_matchers": [OURS, ticket, *present("service", "UUID")],
            "equal": ["service", "UUID"],
        },
        {   # Triton down (or unreachable by the exporter): per-model alerts are its consequences
            "source_matchers": [f'alertname=~"{SERVER_DOWN}|{EXPORTER_UPSTREAM_DOWN}"', f'severity="{PAGE}"',
                                *present("service")],
            "target_matchers": [OURS, *present("service", "model")],
            "equal": ["service"],
        },
        {   # Triton down explains the exporter failing to reach it: one page, not two
            "source_matchers": [f'alertname="{SERVER_DOWN}"', *present("service")],
            "target_matchers": [f'alertname="{EXPORTER_UPSTREAM_DOWN}"',
                                f'upstream=~"{UPSTREAM_TRITON}|{UPSTREAM_TRITON_API}"', *present("service")],
            "equal": ["service"],
        },
    ]


def receiver_config(receiver: Receiver, warnings: list[str]) -> dict:
    """One Alertmanager receiver; notifications carry the summary and the runbook link."""
    config: dict = {"name": receiver.name}
    if receiver.type == "webhook":
        url = receiver.url
        if not url:
            # webhook url_file arrived in Alertmanager 0.26; never copy the secret out of its file.
            url = PLACEHOLDER_WEBHOOK
            warnings.append(f"receiver {receiver.name!r}: Alertmanager 0.25 cannot read a webhook URL from a file; "
                            f"wrote the placeholder {url}: put the URL from {receiver.url_file} there, or on "
                            f"Alertmanager >= 0.26 replace it by url_file: {receiver.url_file}")
        config["webhook_configs"] = [{"url": url, "send_resolved": True}]
    elif receiver.type == "pagerduty":
        config["pagerduty_configs"] = [{
            "routing_key_file": receiver.routing_key_file,
            "send_resolved": True,
            "description": '{{ template "pagerduty.default.description" . }}',
            "links": [
                {"href": "{{ .CommonAnnotations.runbook_url }}", "text": "Runbook"},
                {"href": "{{ .CommonAnnotations.dashboard_url }}", "text": "Dashboard"},
            ],
        }]
    elif receiver.type == "slack":
        slack: dict = {
            "api_url_file": receiver.url_file,
            "send_resolved": True,
            "title": '{{ template "slack.default.title" . }}',
            "text": ("{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n"
                     "Runbook: {{ .Annotations.runbook_url }}  Dashboard: {{ .Annotations.dashboard_url }}\n"
                     "{{ end }}"),
        }
        if receiver.channel:
            slack["channel"] = receiver.channel
        config["slack_configs"] = [slack]
    elif receiver.type == "email":
        config["email_configs"] = [{"to": receiver.to, "send_resolved": True}]
    else:  # the spec loader only admits the four kinds above
        raise UserError(f"receiver {receiver.name!r}: unknown type {receiver.type!r}")
    return config


@dataclass
class Built:
    config: dict
    warnings: list[str]


def _receivers_of(spec: Spec, warnings: list[str]) -> tuple[list[Receiver], str, str]:
    """The spec's receivers and its page and ticket receiver names (filled in where left out)."""
    a = spec.alerting
    receivers = list(a.receivers)
    where = spec.path or spec.service.name
    if not receivers:
        receivers = [Receiver(name=f"{spec.service.name}-placeholder", type="webhook", url=PLACEHOLDER_WEBHOOK)]
        warnings.append(f"{where}: alerting.receivers is empty: pages and tickets of {spec.service.name} go to "
                        f"the placeholder webhook {PLACEHOLDER_WEBHOOK}; name real receivers in the spec")
    page = a.page_receiver or a.ticket_receiver or receivers[0].name
    ticket = a.ticket_receiver or a.page_receiver or receivers[0].name
    if a.receivers and not (a.page_receiver and a.ticket_receiver):
        warnings.append(f"{where}: alerting.page_receiver/ticket_receiver not both set: pages go to {page!r}, "
                        f"tickets to {ticket!r}")
    return receivers, page, ticket


def _child_route(severity: str, matcher: str, receiver: str, mutes: list[str]) -> dict:
    wait, interval, repeat = TIMING[severity]
    route: dict = {"matchers": [matcher], "receiver": receiver, "group_wait": wait,
                   "group_interval": interval, "repeat_interval": repeat}
    if mutes:
        route["mute_time_intervals"] = mutes
    return route


# Alertmanager's week starts on Sunday: a range like monday:sunday is refused at load time.
WEEKDAY_INDEX = {d: i for i, d in enumerate(("sunday", "monday", "tuesday", "wednesday", "thursday", "friday",
                                             "saturday"))}


def check_weekdays(spec: Spec, mute_name: str, times: dict) -> None:
    for text in times.get("weekdays", []):
        first, _, last = str(text).lower().partition(":")
        if last and WEEKDAY_INDEX.get(first, -1) > WEEKDAY_INDEX.get(last, 7):
            raise UserError(f"{spec.path or spec.service.name}: alerting.mute_intervals {mute_name!r}: weekdays "
                            f"{text!r} runs backwards (Alertmanager weeks run sunday:saturday); "
                            f"write it as two ranges, e.g. {first}:saturday and sunday:{last}")


def interval_name(spec: Spec, mute_name: str) -> str:
    return f"{spec.service.name}-{mute_name}"


def build(specs: list[Spec]) -> Built:
    """The whole Alertmanager configuration for these specs."""
    if not specs:
        raise UserError("no spec given: nothing to route")
    warnings: list[str] = []
    page_values, ticket_values = severities(specs)
    page_matcher, ticket_matcher = severity_matcher(page_values), severity_matcher(ticket_values)
    receivers: dict[str, tuple[dict, str]] = {}  # name -> (config, where it was defined)
    routes, time_intervals, default = [], [], ""
    email = False
    for spec in specs:
        where = spec.path or spec.service.name
        spec_receivers, page, ticket = _receivers_of(spec, warnings)
        for receiver in spec_receivers:
            config = receiver_config(receiver, warnings)
            known = receivers.get(receiver.name)
            if known and known[0] != config:
                raise UserError(f"{where}: receiver {receiver.name!r} is defined differently in {known[1]}; "
                                "one name, one receiver")
            receivers.setdefault(receiver.name, (config, where))
            email = email or receiver.type == "email"
        mutes: dict[str, list[str]] = {PAGE: [], TICKET: []}
        for mute in spec.alerting.mute_intervals:
            name = interval_name(spec, mute.name)
            for times in mute.times:
                check_weekdays(spec, mute.name, times)
            time_intervals.append({"name": name, "time_intervals": [dict(t) for t in mute.times]})
            for severity in mute.severities:
                mutes[severity].append(name)
        default = default or ticket
        routes.append({
            "matchers": [f'service="{spec.service.name}"'],
            "receiver": ticket,  # any other severity: a ticket
            "group_by": list(spec.alerting.group_by),
            "routes": [_child_route(PAGE, page_matcher, page, mutes[PAGE]),
                       _child_route(TICKET, ticket_matcher, ticket, mutes[TICKET])],
        })
    config: dict = {"global": {"resolve_timeout": "5m"}}
    if email:
        config["global"].update(PLACEHOLDER_SMTP)
        warnings.append("alertmanager.yaml: email receivers need global.smtp_smarthost and smtp_from; "
                        f"placeholders {PLACEHOLDER_SMTP['smtp_smarthost']} / {PLACEHOLDER_SMTP['smtp_from']} "
                        "were written: fill them in")
    wait, interval, repeat = TIMING[TICKET]
    config["route"] = {
        # Alerts of no known service still reach a person: the first spec's ticket receiver.
        "receiver": default,
        "group_by": ["alertname", "service"],
        "group_wait": wait, "group_interval": interval, "repeat_interval": repeat,
        "routes": routes,
    }
    config["inhibit_rules"] = inhibit_rules(page_matcher, ticket_matcher)
    config["receivers"] = [config for config, _ in receivers.values()]
    if time_intervals:
        config["time_intervals"] = time_intervals
    return Built(config, warnings)


def retarget(config: dict, webhook_url: str, group_wait: str = "1s", group_interval: str = "1s") -> dict:
    """A copy of a generated configuration with every receiver replaced by one webhook and short
    timings: routing, inhibition and mute intervals stay as generated (for tests and local demos)."""
    copy = deepcopy(config)
    copy["global"] = {"resolve_timeout": "5m"}
    copy["receivers"] = [{"name": r["name"], "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}
                         for r in copy["receivers"]]

    def quick(route: dict) -> None:
        route["group_wait"], route["group_interval"] = group_wait, group_interval
        for child in route.get("routes", []):
            quick(child)

    quick(copy["route"])
    return copy
