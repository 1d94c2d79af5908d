"""Building one menu: settings, then nodes, then the whole-menu checks."""

from __future__ import annotations

from ivr.checks import Draft, close_match, suggest
from ivr.loader.fields import _LANGUAGE, TOP_KEYS
from ivr.loader.nodes import NodeReader
from ivr.loader.settings import SettingsReader
from ivr.menu import AskNode, Menu


class MenuBuilder(NodeReader, SettingsReader):
    """Reads one parsed menu document into a ``Menu``, noting every problem."""

    def build(self) -> Draft:
        """Read everything that can be read; the draft is whole when no problem."""
        doc = self.doc = self.checked(self.doc, TOP_KEYS, "the menu")
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
        self.person = self.read_person()
        nodes = self.read_nodes(queues, data, hours)
        sensitive = frozenset(
            n.save_as for n in nodes.values() if isinstance(n, AskNode) and n.sensitive
        ).union(*(source.sensitive for source in data.values()))
        self.check_handover(nodes, sensitive)
        start = doc.get("start")
        if start is None:
            self.p.add(doc.line, "the menu needs 'start': the id of its first node")
            start = ""
        elif not isinstance(start, str | int) or str(start) not in self.order:
            self.p.add(
                doc.line_of("start"),
                f"start names unknown node '{start}'{suggest(start, self.order)}",
            )
            start = close_match(start, self.order) or ""
        menu = Menu(
            id=menu_id,
            path=str(self.path),
            title=title,
            start=str(start),
            nodes=nodes,
            language=language,
            voice=voice,
            numbers=numbers,
            hours=hours,
            data=data,
            queues=queues,
            hold=hold,
            recordings_dir=str(self.recordings),
            person=self.person,
        )
        return Draft(
            menu=menu,
            order=self.order,
            opaque=self.opaque,
            door_lines=self.door_lines,
            field_lines=self.field_lines,
            csv_fields=self.csv_fields,
            unsure=self.unsure,
            ghost_doors=self.ghost_doors,
            nodes_line=doc.line_of("nodes"),
        )
