"""What TwiML for voice is: every verb and noun, its attributes, what nests in it.

One table, so the caller's checks and its runs read the same facts. Taken from
Twilio's TwiML reference (twilio.com/docs/voice/twiml, one page per verb and
noun) and checked against what twilio-python's ``VoiceResponse`` builder emits
(``twilio/twiml/voice_response.py``: each builder method's keyword arguments,
rendered, give the attribute spellings below). Where the two differ, an
attribute either names is accepted: the reference documents some the builder
lacks (``<Dial callReason>``), the builder some the pages leave out
(``<Gather maxSpeechTime>``, ``recordingConfigurationId``).

A TwiML document is a ``<Response>`` holding *verbs* run top to bottom; some
verbs hold *nouns* (``<Dial><Number>``) or other verbs (``<Gather><Say>``).
``ELEMENTS`` maps an element's key to its :class:`Element`: the attributes it
takes and, for each tag that may nest in it, the key of that child's element
(a tag's meaning depends on its parent: ``<Sip>`` in ``<Dial>`` is not ``<Sip>``
in ``<Refer>``). ``SIMULATED`` are the verbs the caller carries out; the other
verbs of ``Response`` are real TwiML it skips with a note in the transcript
(a media stream, a payment, a SIP refer: nothing a caller of a menu hears).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "BOOLEANS",
    "CHOICES",
    "ELEMENTS",
    "NOT_VOICE",
    "SIMULATED",
    "SKIPPED",
    "SSML_ATTRIBUTES",
    "VALUE_CHECKED",
    "WAIT_VERBS",
    "Element",
]


@dataclass(frozen=True)
class Element:
    """One TwiML element: the attributes Twilio documents, and what nests in it.

    ``children`` maps each tag allowed inside to the key of its ``Element`` in
    :data:`ELEMENTS`; ``text`` says whether the element's own text is its
    content (a URL, a number, words to say) or must be empty.
    """

    attributes: frozenset[str]
    children: Mapping[str, str] = field(default_factory=dict)
    text: bool = True


def _attrs(*names: str) -> frozenset[str]:
    return frozenset(names)


_STATUS = ("statusCallback", "statusCallbackMethod")
_STATUS_EVENTS = (*_STATUS, "statusCallbackEvent")
_RECORDING_STATUS = (
    "recordingStatusCallback",
    "recordingStatusCallbackMethod",
    "recordingStatusCallbackEvent",
)
_AMD = (
    "machineDetection",
    "machineDetectionTimeout",
    "machineDetectionSpeechThreshold",
    "machineDetectionSpeechEndThreshold",
    "machineDetectionSilenceTimeout",
    "amdStatusCallback",
    "amdStatusCallbackMethod",
)
_PARAMETER = {"Parameter": "Parameter"}
_PROMPTS = {"Say": "Say", "Play": "Play", "Pause": "Pause"}

ELEMENTS: dict[str, Element] = {
    "Response": Element(
        frozenset(),
        {
            tag: tag
            for tag in (
                "Say",
                "Play",
                "Pause",
                "Gather",
                "Dial",
                "Enqueue",
                "Leave",
                "Hangup",
                "Redirect",
                "Reject",
                "Record",
                "Sms",
                "Start",
                "Stop",
                "Connect",
                "Pay",
                "Refer",
                "Echo",
            )
        },
        text=False,
    ),
    # -- verbs the caller carries out ----------------------------------------------
    "Say": Element(_attrs("voice", "language", "loop")),  # children: SSML
    "Play": Element(_attrs("loop", "digits")),
    "Pause": Element(_attrs("length"), text=False),
    "Gather": Element(
        _attrs(
            "action",
            "actionOnEmptyResult",
            "bargeIn",
            "debug",
            "dtmfDetection",
            "enhanced",
            "finishOnKey",
            "hints",
            "input",
            "language",
            "maxSpeechTime",
            "method",
            "numDigits",
            "partialResultCallback",
            "partialResultCallbackMethod",
            "profanityFilter",
            "speechModel",
            "speechTimeout",
            "timeout",
        ),
        _PROMPTS,
        text=False,
    ),
    "Dial": Element(
        _attrs(
            "action",
            "answerOnBridge",
            "callerId",
            "callReason",
            "events",
            "hangupOnStar",
            "method",
            "passports",
            "record",
            "recordingConfigurationId",
            *_RECORDING_STATUS,
            "recordingTrack",
            "referMethod",
            "referUrl",
            "ringTone",
            "sequential",
            "timeLimit",
            "timeout",
            "trim",
        ),
        {
            tag: tag
            for tag in (
                "Number",
                "Client",
                "Sip",
                "Conference",
                "Queue",
                "Sim",
                "Application",
                "WhatsApp",
            )
        },
    ),
    "Enqueue": Element(
        _attrs(
            "action",
            "maxQueueSize",
            "method",
            "waitUrl",
            "waitUrlMethod",
            "workflowSid",
        ),
        {"Task": "Task"},
    ),
    "Leave": Element(frozenset(), text=False),
    "Hangup": Element(frozenset(), _PARAMETER, text=False),
    "Redirect": Element(_attrs("method")),
    "Reject": Element(_attrs("reason"), _PARAMETER, text=False),
    "Record": Element(
        _attrs(
            "action",
            "finishOnKey",
            "maxLength",
            "method",
            "playBeep",
            "recordingChannels",
            "recordingConfigurationId",
            *_RECORDING_STATUS,
            "storageUrl",
            "storageUrlMethod",
            "timeout",
            "transcribe",
            "transcribeCallback",
            "trim",
        ),
        text=False,
    ),
    # -- verbs the caller skips with a note ----------------------------------------
    "Sms": Element(_attrs("to", "from", "action", "method", "statusCallback")),
    "Start": Element(
        _attrs("action", "method"),
        {
            "Stream": "Stream",
            "Siprec": "Siprec",
            "Transcription": "Transcription",
            "Recording": "Recording",
        },
        text=False,
    ),
    "Stop": Element(
        frozenset(),
        {"Stream": "Stream", "Siprec": "Siprec", "Transcription": "Transcription"},
        text=False,
    ),
    "Connect": Element(
        _attrs("action", "method"),
        {
            tag: tag
            for tag in (
                "Stream",
                "Room",
                "Autopilot",
                "VirtualAgent",
                "Conversation",
                "ConversationRelay",
                "AiSession",
                "ConversationRelaySession",
            )
        },
        text=False,
    ),
    "Pay": Element(
        _attrs(
            "action",
            "bankAccountType",
            "chargeAmount",
            "currency",
            "description",
            "input",
            "language",
            "maxAttempts",
            "minPostalCodeLength",
            "paymentConnector",
            "paymentMethod",
            "postalCode",
            "securityCode",
            *_STATUS,
            "timeout",
            "tokenType",
            "validCardTypes",
        ),
        {"Prompt": "Prompt", "Parameter": "Parameter"},
        text=False,
    ),
    "Refer": Element(_attrs("action", "method"), {"Sip": "Refer.Sip"}, text=False),
    "Echo": Element(frozenset(), text=False),
    # -- nouns of <Dial> -----------------------------------------------------------
    "Number": Element(
        _attrs("sendDigits", "url", "method", "byoc", *_STATUS_EVENTS, *_AMD)
    ),
    "Client": Element(
        _attrs("url", "method", *_STATUS_EVENTS),
        {"Identity": "Identity", "Parameter": "Parameter"},
    ),
    "Sip": Element(
        _attrs("username", "password", "url", "method", *_STATUS_EVENTS, *_AMD),
        {"Uri": "Uri", "Headers": "Headers"},
    ),
    "Conference": Element(
        _attrs(
            "beep",
            "coach",
            "endConferenceOnExit",
            "eventCallbackUrl",
            "jitterBufferSize",
            "maxParticipants",
            "muted",
            "participantLabel",
            "record",
            "recordingConfigurationId",
            *_RECORDING_STATUS,
            "region",
            "startConferenceOnEnter",
            *_STATUS_EVENTS,
            "trim",
            "waitMethod",
            "waitUrl",
        )
    ),
    "Queue": Element(_attrs("url", "method", "reservationSid", "postWorkActivitySid")),
    "Sim": Element(frozenset()),
    "Application": Element(
        _attrs("url", "method", "customerId", "copyParentTo", *_STATUS_EVENTS),
        {"ApplicationSid": "ApplicationSid", "Parameter": "Parameter"},
    ),
    "WhatsApp": Element(_attrs("url", "method", *_STATUS_EVENTS)),
    # -- what nests in nouns and skipped verbs -------------------------------------
    "Task": Element(_attrs("priority", "timeout")),
    "Identity": Element(frozenset()),
    "ApplicationSid": Element(frozenset()),
    "Parameter": Element(_attrs("name", "value"), text=False),
    "Config": Element(_attrs("name", "value"), text=False),
    "Uri": Element(_attrs("username", "password", "priority", "weight")),
    "Headers": Element(frozenset(), {"Header": "Header"}, text=False),
    "Header": Element(_attrs("name", "value"), text=False),
    "Refer.Sip": Element(frozenset()),
    "Stream": Element(
        _attrs(
            "name",
            "connectorName",
            "url",
            "track",
            *_STATUS,
            "audioFormat",
            "sampleRate",
        ),
        _PARAMETER,
        text=False,
    ),
    "Siprec": Element(
        _attrs("name", "connectorName", "track", *_STATUS), _PARAMETER, text=False
    ),
    "Transcription": Element(
        _attrs(
            "name",
            "track",
            "statusCallbackUrl",
            "statusCallbackMethod",
            "inboundTrackLabel",
            "outboundTrackLabel",
            "partialResults",
            "languageCode",
            "transcriptionEngine",
            "profanityFilter",
            "speechModel",
            "hints",
            "enableAutomaticPunctuation",
            "intelligenceService",
        ),
        {"Config": "Config", "Parameter": "Parameter"},
        text=False,
    ),
    "Recording": Element(
        _attrs(
            *_RECORDING_STATUS,
            "trim",
            "track",
            "channels",
            "recordingConfigurationId",
        ),
        text=False,
    ),
    "Room": Element(_attrs("participantIdentity")),
    "Autopilot": Element(frozenset()),
    "VirtualAgent": Element(
        _attrs("connectorName", "language", "sentimentAnalysis", *_STATUS),
        {"Config": "Config", "Parameter": "Parameter"},
        text=False,
    ),
    "Conversation": Element(
        _attrs(
            "serviceInstanceSid",
            "inboundAutocreation",
            "routingAssignmentTimeout",
            "inboundTimeout",
            "url",
            "method",
            "record",
            "trim",
            *_RECORDING_STATUS,
            *_STATUS_EVENTS,
        ),
        text=False,
    ),
    "ConversationRelay": Element(
        _attrs(
            "applicationReconnect",
            "asrSmartFormat",
            "backgroundNoiseReduction",
            "customerName",
            "debug",
            "deepgramSmartFormat",
            "dtmfDetection",
            "eagerEotThreshold",
            "echoPromptFiltering",
            "elevenlabsLanguageTextNormalization",
            "elevenlabsTextNormalization",
            "events",
            "hints",
            "ignoreBackchannel",
            "includeInPrompt",
            "intelligenceService",
            "interruptSensitivity",
            "interruptible",
            "language",
            "partialPromptOnHangup",
            "partialPrompts",
            "preemptible",
            "profanityFilter",
            "reportInputDuringAgentSpeech",
            "speechModel",
            "speechTimeout",
            "transcriptionLanguage",
            "transcriptionProvider",
            "ttsLanguage",
            "ttsLanguageTextNormalization",
            "ttsProvider",
            "ttsTextNormalization",
            "turnDetection",
            "url",
            "voice",
            "welcomeGreeting",
            "welcomeGreetingInterruptible",
        ),
        {"Language": "Language", "Parameter": "Parameter"},
        text=False,
    ),
    "Language": Element(
        _attrs(
            "code",
            "ttsProvider",
            "voice",
            "transcriptionProvider",
            "speechModel",
            "hints",
            "asrSmartFormat",
            "ttsTextNormalization",
            "ttsLanguageTextNormalization",
        ),
        text=False,
    ),
    "AiSession": Element(_attrs("aiConnector", "aiSessionConfiguration"), text=False),
    "ConversationRelaySession": Element(
        _attrs("connector", "sessionConfiguration"), text=False
    ),
    "Prompt": Element(
        _attrs("for", "errorType", "cardType", "attempt", "requireMatchingInputs"),
        _PROMPTS,
        text=False,
    ),
}

# Verbs the caller runs; the other verbs of <Response> are skipped with a note.
SIMULATED = frozenset(
    {"Say", "Play", "Pause", "Gather", "Dial", "Enqueue", "Leave", "Hangup"}
    | {"Redirect", "Reject", "Record"}
)
SKIPPED = frozenset(ELEMENTS["Response"].children) - SIMULATED

# Verbs Twilio runs in the document of an <Enqueue waitUrl>.
WAIT_VERBS = frozenset(
    {"Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather"}
)

# Elements of other TwiML (messaging, faxes) a voice document may be given by
# mistake, and what to use instead.
NOT_VOICE = {
    "Message": "<Message> is messaging TwiML (a reply to a text); during a call "
    "use <Sms>, or the REST API",
    "Body": "<Body> belongs in messaging TwiML's <Message>",
    "Media": "<Media> belongs in messaging TwiML's <Message>",
    "Receive": "<Receive> is fax TwiML",
}

# SSML tags Twilio reads inside <Say> (Amazon Polly and Google voices), with
# their attributes (None: not checked, Amazon's own effects).
SSML_ATTRIBUTES: dict[str, frozenset[str] | None] = {
    "break": _attrs("strength", "time"),
    "emphasis": _attrs("level"),
    "lang": _attrs("xml:lang"),
    "p": frozenset(),
    "phoneme": _attrs("alphabet", "ph"),
    "prosody": _attrs("volume", "rate", "pitch"),
    "s": frozenset(),
    "say-as": _attrs("interpret-as", "format"),
    "sub": _attrs("alias"),
    "w": _attrs("role"),
    "amazon:domain": None,
    "amazon:effect": None,
}

# The values the caller checks, on the verbs it runs and their nouns (a
# skipped verb's values are Twilio's to judge). Free text (URLs, names, voices,
# speech models) is not checked.
BOOLEANS: dict[str, frozenset[str]] = {
    "Gather": _attrs(
        "actionOnEmptyResult", "bargeIn", "debug", "enhanced", "profanityFilter"
    ),
    "Dial": _attrs("answerOnBridge", "hangupOnStar"),
    "Record": _attrs("playBeep", "transcribe"),
    "Conference": _attrs("startConferenceOnEnter", "endConferenceOnExit"),
}
CHOICES: dict[tuple[str, str], frozenset[str]] = {
    ("Dial", "record"): _attrs(
        "do-not-record",
        "record-from-answer",
        "record-from-ringing",
        "record-from-answer-dual",
        "record-from-ringing-dual",
        "true",
        "false",
    ),
    ("Dial", "trim"): _attrs("trim-silence", "do-not-trim"),
    ("Record", "trim"): _attrs("trim-silence", "do-not-trim"),
    ("Reject", "reason"): _attrs("rejected", "busy"),
}
VALUE_CHECKED = SIMULATED | set(ELEMENTS["Dial"].children) | {"Task"}
