"""Building one menu: settings, then nodes, then the whole-menu checks."""

from __future__ import annotations

from ivr import checks
from ivr.checks import suggest
from ivr.loader.fields import _LANGUAGE, TOP_KEYS
from ivr.loader.nodes import NodeReader
from ivr.loader.settings import SettingsReader
from ivr.menu import (
    Menu,
)


class MenuBuilder(NodeReader, SettingsReader):
    """Reads one parsed menu document into a ``Menu``, noting every problem."""

    def build(self) -> Menu | None:
        doc = self.doc
        self.unknown_keys(doc, TOP_KEYS, "the menu")
        menu_id = self.text(doc, "id", "the menu") or self.path.name.split(".")[0]
        title = self.text(doc, "title", "the menu") or menu_id
        language = self.text(doc, "language", "the menu") or "en-US"
        if not _LANGUAGE.fullmatch(language):
            self.p.add(
                doc.line_of("language"),
                f"language '{language}' is not a language tag like 'zh-CN' or 'en-US'",
            )
        voice = self.text(doc, "voice", "the menu")
        hold = self.recording(doc, "", "hold", "the menu") if "hold" in doc else None
        numbers = self.read_numbers()
        hours = self.read_hours()
        data = self.read_data()
        queues = self.read_queues()
        nodes = self.read_nodes(queues, data, hours)
        self.check_handover(nodes)
        start = doc.get("start")
        if start is None:
            self.p.add(doc.line, "the menu needs 'start': the id of its first node")
        elif not isinstance(start, str) or start not in nodes:
            self.p.add(
                doc.line_of("start"),
                f"start names unknown node '{start}'{suggest(start, nodes)}",
            )
        if self.p.items:
            # Graph checks on a half-read menu would only add noise; doors to
            # nodes that exist but failed to read are not reported again.
            declared = self.doc.get("nodes")
            known = {str(k) for k in declared} if isinstance(declared, dict) else set()
            checks.check_targets(nodes, self.p.add, known)
            return None
        menu = Menu(
            id=menu_id,
            path=str(self.path),
            title=title,
            start=start,
            nodes=nodes,
            language=language,
            voice=voice,
            numbers=numbers,
            hours=hours,
            data=data,
            queues=queues,
            hold=hold,
            recordings_dir=str(self.recordings),
        )
        checks.check_menu(menu, self.csv_fields, self.p.add, self.field_lines)
        return menu
