"""The testing stack a designer uses: a menu's line in process, scenarios, fuzzing.

``MenuLine`` rings a menu's own web app with the Twilio-faithful caller
(``ivr.caller``); ``scenarios`` replays calls written down beside a menu and
reports coverage; ``fuzz`` makes random calls hunting for errors. ``ivr call``,
``ivr test`` and the console are built on these.
"""
