"""The XML documents an emulated Sonos speaker serves and sends.

Shapes follow what SoCo 0.32 parses (see docs/plugins/sonos.md, "Emulator"): the device
description, the SCPD documents SoCo fetches before calling an action without an argument
list, SOAP responses and faults, and GENA event bodies (LastChange, ZoneGroupState).
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"

# Actions SoCo may call without an argument list, so it first fetches the service's SCPD:
# {service type: {action: (in args, out args)}}. SoCo's parser only yields actions that have
# an argumentList, and every relatedStateVariable must be declared.
SCPD_ACTIONS: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "DeviceProperties": {
        "GetHouseholdID": ((), ("CurrentHouseholdID",)),
        "GetZoneInfo": ((), ("SerialNumber", "SoftwareVersion", "DisplaySoftwareVersion",
                             "HardwareVersion", "IPAddress", "MACAddress")),
        "GetLEDState": ((), ("CurrentLEDState",)),
        "GetButtonLockState": ((), ("CurrentButtonLockState",)),
    },
    "ZoneGroupTopology": {
        "GetZoneGroupState": ((), ("ZoneGroupState",)),
    },
    "AlarmClock": {
        "ListAlarms": ((), ("CurrentAlarmList", "CurrentAlarmListVersion")),
    },
}

SERVICES = (
    # (service type, control URL, event URL)
    ("AVTransport", "/MediaRenderer/AVTransport/Control", "/MediaRenderer/AVTransport/Event"),
    ("RenderingControl", "/MediaRenderer/RenderingControl/Control",
     "/MediaRenderer/RenderingControl/Event"),
    ("GroupRenderingControl", "/MediaRenderer/GroupRenderingControl/Control",
     "/MediaRenderer/GroupRenderingControl/Event"),
    ("DeviceProperties", "/DeviceProperties/Control", "/DeviceProperties/Event"),
    ("ZoneGroupTopology", "/ZoneGroupTopology/Control", "/ZoneGroupTopology/Event"),
    ("AlarmClock", "/AlarmClock/Control", "/AlarmClock/Event"),
)
CONTROL_URLS = {control: name for name, control, _ in SERVICES}
EVENT_URLS = {event: name for name, _, event in SERVICES}


def scpd(service: str) -> str | None:
    actions = SCPD_ACTIONS.get(service)
    if actions is None:
        return None
    parts, variables = [], set()
    for action, (ins, outs) in actions.items():
        args = []
        for direction, names in (("in", ins), ("out", outs)):
            for name in names:
                variables.add(f"A_ARG_TYPE_{name}")
                args.append(
                    f"<argument><name>{name}</name><direction>{direction}</direction>"
                    f"<relatedStateVariable>A_ARG_TYPE_{name}</relatedStateVariable></argument>")
        parts.append(f"<action><name>{action}</name><argumentList>{''.join(args)}"
                     "</argumentList></action>")
    table = "".join(
        f'<stateVariable sendEvents="no"><name>{v}</name><dataType>string</dataType>'
        "</stateVariable>" for v in sorted(variables))
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<scpd xmlns="urn:schemas-upnp-org:service-1-0">'
        "<specVersion><major>1</major><minor>0</minor></specVersion>"
        f"<actionList>{''.join(parts)}</actionList>"
        f"<serviceStateTable>{table}</serviceStateTable></scpd>")


def device_description(*, uid: str, room: str, model_name: str, model_number: str,
                       software_version: str, hardware_version: str, serial: str,
                       display_version: str) -> str:
    services = "".join(
        f"<service><serviceType>urn:schemas-upnp-org:service:{name}:1</serviceType>"
        f"<serviceId>urn:upnp-org:serviceId:{name}</serviceId>"
        f"<controlURL>{control}</controlURL><eventSubURL>{event}</eventSubURL>"
        f"<SCPDURL>/xml/{name}1.xml</SCPDURL></service>"
        for name, control, event in SERVICES)
    return (
        '<?xml version="1.0" encoding="utf-8" ?>'
        '<root xmlns="urn:schemas-upnp-org:device-1-0">'
        "<specVersion><major>1</major><minor>0</minor></specVersion>"
        "<device>"
        "<deviceType>urn:schemas-upnp-org:device:ZonePlayer:1</deviceType>"
        f"<friendlyName>{escape(room)} - {escape(model_name)}</friendlyName>"
        "<manufacturer>Sonos, Inc.</manufacturer>"
        "<manufacturerURL>http://www.sonos.com</manufacturerURL>"
        f"<modelNumber>{model_number}</modelNumber>"
        "<modelDescription>Hub emulated speaker</modelDescription>"
        f"<modelName>{escape(model_name)}</modelName>"
        f"<softwareVersion>{software_version}</softwareVersion>"
        f"<hardwareVersion>{hardware_version}</hardwareVersion>"
        f"<serialNum>{serial}</serialNum>"
        f"<UDN>uuid:{uid}</UDN>"
        f"<roomName>{escape(room)}</roomName>"
        f"<displayVersion>{display_version}</displayVersion>"
        "<iconList><icon><id>0</id><mimetype>image/png</mimetype><width>48</width>"
        "<height>48</height><depth>24</depth><url>/img/icon-S18.png</url></icon></iconList>"
        f"<serviceList>{services}</serviceList>"
        "</device></root>")


def soap_response(service: str, action: str, out: dict[str, object]) -> str:
    args = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in out.items())
    return (
        f'<?xml version="1.0"?><s:Envelope xmlns:s="{SOAP_ENV}" '
        's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
        f'<u:{action}Response xmlns:u="urn:schemas-upnp-org:service:{service}:1">{args}'
        f"</u:{action}Response></s:Body></s:Envelope>")


def soap_fault(code: int, description: str = "") -> str:
    return (
        f'<?xml version="1.0"?><s:Envelope xmlns:s="{SOAP_ENV}" '
        's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault>'
        "<faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>"
        '<UPnPError xmlns="urn:schemas-upnp-org:control-1-0">'
        f"<errorCode>{code}</errorCode><errorDescription>{escape(description)}"
        "</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>")


def didl_track(*, title: str, artist: str, album: str, uri: str, duration: str) -> str:
    """Track metadata as Sonos sends it (DIDL-Lite, a music track)."""
    if not title:
        return ""
    return (
        '<DIDL-Lite xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:upnp="urn:schemas-upnp-org:metadata-1-0/upnp/" '
        'xmlns:r="urn:schemas-rinconnetworks-com:metadata-1-0/" '
        'xmlns="urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/">'
        '<item id="-1" parentID="-1" restricted="true">'
        f'<res protocolInfo="sonos.com-http:*:audio/mpeg:*" duration="{duration}">'
        f"{escape(uri)}</res>"
        "<r:streamContent></r:streamContent>"
        f"<dc:title>{escape(title)}</dc:title>"
        "<upnp:class>object.item.audioItem.musicTrack</upnp:class>"
        f"<dc:creator>{escape(artist)}</dc:creator>"
        f"<upnp:album>{escape(album)}</upnp:album>"
        "</item></DIDL-Lite>")


def last_change(namespace: str, values: list[tuple[str, str, str | None]]) -> str:
    """A LastChange document: (variable, value, channel) triples under InstanceID 0."""
    body = "".join(
        f"<{name}{' channel=' + quoteattr(channel) if channel else ''} val={quoteattr(value)}/>"
        for name, value, channel in values)
    return f'<Event xmlns="{namespace}"><InstanceID val="0">{body}</InstanceID></Event>'


def propertyset(properties: dict[str, str]) -> str:
    props = "".join(f"<e:property><{k}>{escape(v)}</{k}></e:property>"
                    for k, v in properties.items())
    return (f'<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0">{props}'
            "</e:propertyset>")


AVT_NS = "urn:schemas-upnp-org:metadata-1-0/AVT/"
RCS_NS = "urn:schemas-upnp-org:metadata-1-0/RCS/"
