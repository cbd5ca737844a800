"""Links prove themselves before they are stored: the first run, *New link…* and links from outside.

:class:`LinkFlow` owns the link dialog (``ui.first_run.FirstRunDialog``) and does its work off the GUI thread:

1. a link from outside that is not a link is explained in a dialog and logged;
2. otherwise the dialog shows it (naming the alert server it points to and whether its signing key differs from the
   current one) and nothing changes until the agent presses *Connect*;
3. *Connect* runs the probe (``client.connect.prove``: connect with the link's token, prove its key) and only an OK
   result stores the link (token into the keyring, URL + key into the settings); any other result leaves the old
   setup untouched, is logged, and the dialog says what to do, with *Retry* — and *Save anyway* when the server
   was not reached (down on purpose);
4. the old token is deleted when the new link is stored after a successful check; after *Save anyway* it is kept
   until the new connection works (:meth:`LinkFlow.connected`).

Signals:
    stored(object): the new ``Settings`` after a link was stored (GUI thread).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QMessageBox

from trayapp.client.proof import ProbeResult
from trayapp.core.errors import CoreError
from trayapp.core.link import Link, parse_link
from trayapp.settings import Settings
from trayapp.ui.first_run import FirstRunDialog, LinkMode, server_words
from trayapp.ui.icons import app_icon

log = logging.getLogger(__name__)

Prover = Callable[[Link, Settings], ProbeResult]
Saver = Callable[[Link, bool], Settings]
Forgetter = Callable[[str], object]


def prove_link(link: Link, current: Settings) -> ProbeResult:
    """Connect with the link and prove its key (blocking: off the GUI thread)."""
    from trayapp.client.connect import prove

    return prove(link, ca_file=current.ca_file)


def save_link(link: Link, forget_old: bool) -> Settings:
    """Token into the keyring, URL + key into the settings file (blocking: off the GUI thread)."""
    from trayapp.client.connect import save_link as save

    return save(link, forget_old=forget_old)


def forget_token(url: str) -> object:
    from trayapp.client.credentials import delete_token

    return delete_token(url)


def _run(name: str, work: Callable[[], None]) -> None:
    threading.Thread(target=work, name=name, daemon=True).start()


class LinkFlow(QObject):
    stored = Signal(object)
    _proved = Signal(object, str, object)  # dialog, link text, ProbeResult (emitted from a worker thread)
    _saved = Signal(object, object, str)  # dialog, Settings or None, problem words

    def __init__(self, current: Callable[[], Settings], parent: QObject | None = None, *,
                 prover: Prover = prove_link, saver: Saver = save_link, forgetter: Forgetter = forget_token) -> None:
        super().__init__(parent)
        self._current = current
        self._prover = prover
        self._saver = saver
        self._forgetter = forgetter
        self.dialog: FirstRunDialog | None = None
        self.notice: QMessageBox | None = None  # the last "this link cannot be used" message
        self._forget_when_connected: str | None = None
        self._sources: dict[FirstRunDialog, str] = {}
        self._proved.connect(self._on_proved)
        self._saved.connect(self._on_saved)

    # --- entry points ----------------------------------------------------------------------------

    def open(self, mode: LinkMode, text: str = "", source: str = "") -> FirstRunDialog:
        """Show the link dialog (the open one, with ``text`` put in, if there is one); ``source`` names where
        the link came from in the log (default: the mode)."""
        if self.dialog is not None:
            if text and not self.dialog.busy:
                self.dialog.link_edit.setText(text)
            self.dialog.show()
            self.dialog.raise_()
            self.dialog.activateWindow()
            return self.dialog
        current = self._current()
        dialog = FirstRunDialog(mode, text, current.bridge_url, current.key)
        self._sources[dialog] = source or mode.value
        dialog.setWindowIcon(app_icon())
        dialog.prove_requested.connect(lambda link_text: self._prove(dialog, link_text))
        dialog.save_requested.connect(lambda link_text: self._save(dialog, link_text, proven=False))
        dialog.finished.connect(lambda _result: self._closed(dialog))
        self.dialog = dialog
        dialog.show()
        return dialog

    def incoming(self, text: str) -> None:
        """A link from outside trayapp (a clicked link, ``trayapp connect``, a second launch, macOS's open event)."""
        try:
            link = parse_link(text)
        except CoreError as exc:
            log.warning("link from outside rejected: not a usable link (%s)", exc)
            self._tell("This link cannot be used",
                       "trayapp was handed a link it cannot use, so nothing was changed. Ask your admin to send "
                       "the link again (copy all of it).", str(exc))
            return
        log.info("link from outside for %s: asking the agent", link.url)
        self.open(LinkMode.FROM_OUTSIDE if self._current().configured else LinkMode.FIRST_RUN, text, "from outside")

    def connected(self) -> None:
        """The connection works: forget the token a *Save anyway* kept."""
        url, self._forget_when_connected = self._forget_when_connected, None
        if url and url != self._current().bridge_url:
            log.info("link: the new connection works; forgetting the old token for %s", url)
            _run("trayapp-forget-token", lambda: self._forget_quietly(url))

    def _forget_quietly(self, url: str) -> None:
        try:
            self._forgetter(url)
        except Exception as exc:
            log.info("link: could not remove the old token for %s: %s", url, type(exc).__name__)

    # --- the work --------------------------------------------------------------------------------

    def _prove(self, dialog: FirstRunDialog, text: str) -> None:
        try:
            link = parse_link(text)
        except CoreError:
            return
        current = self._current()

        def work() -> None:
            try:
                result = self._prover(link, current)
            except Exception as exc:  # a bug: say so instead of hanging the dialog
                log.exception("link: the check failed unexpectedly")
                from trayapp.client.proof import Outcome

                result = ProbeResult(Outcome.BROKEN, server_words(link.url), type(exc).__name__)
            self._proved.emit(dialog, text, result)

        _run("trayapp-prove-link", work)

    @Slot(object, str, object)
    def _on_proved(self, dialog: FirstRunDialog, text: str, result: ProbeResult) -> None:
        if dialog is not self.dialog or dialog.text() != text:
            log.info("link: a check ended after its dialog was closed or changed; nothing stored")
            return
        if result.ok:
            log.info("link for %s proven (%s); storing it", result.host, result.detail)
            self._save(dialog, text, proven=True)
            dialog.show_result(True, "Connected. Saving the link…")
            return
        log.warning("link for %s rejected (%s, %s): %s; nothing changed", result.host, self._sources.get(dialog),
                    result.outcome.value, result.detail)
        dialog.show_result(False, result.words, result.detail, result.retry_helps)

    def _save(self, dialog: FirstRunDialog, text: str, proven: bool) -> None:
        try:
            link = parse_link(text)
        except CoreError:
            return
        old = self._current().bridge_url
        if not proven:
            log.warning("link for %s saved without a successful check (Save anyway)", link.url)

        def work() -> None:
            try:
                settings = self._saver(link, proven)
            except Exception as exc:  # keyring, settings file: words for the agent, the reason in Details
                log.warning("link: cannot store the link: %s", exc)
                self._saved.emit(dialog, None, str(exc) or type(exc).__name__)
                return
            if not proven and old and old != link.url:
                self._forget_when_connected = old
            self._saved.emit(dialog, settings, "")

        _run("trayapp-store-link", work)

    @Slot(object, object, str)
    def _on_saved(self, dialog: FirstRunDialog, settings: Settings | None, problem: str) -> None:
        if settings is None:
            if dialog is self.dialog:
                dialog.show_problem("The link could not be saved on this computer, so nothing was changed. "
                                    "Show your admin the details.", problem)
            return
        log.info("link stored for %s", settings.bridge_url)
        self.stored.emit(settings)
        if dialog is self.dialog:
            dialog.done(FirstRunDialog.DialogCode.Accepted)

    def _closed(self, dialog: FirstRunDialog) -> None:
        if dialog is self.dialog:
            self.dialog = None
        self._sources.pop(dialog, None)
        dialog.deleteLater()

    def _tell(self, title: str, words: str, detail: str) -> None:
        """A non-modal message box (plain text; the technical reason under *Show Details…*)."""
        if self.notice is not None:
            self.notice.close()
        box = QMessageBox(QMessageBox.Icon.Warning, title, words, QMessageBox.StandardButton.Ok)
        box.setObjectName("LinkNotice")
        box.setWindowIcon(app_icon())
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setDetailedText(detail)
        box.finished.connect(lambda _result: self._notice_closed(box))
        self.notice = box
        box.show()

    def _notice_closed(self, box: QMessageBox) -> None:
        if self.notice is box:
            self.notice = None
        box.deleteLater()
