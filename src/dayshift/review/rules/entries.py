"""Where user input enters an app other than a web route: chat platforms and UI callbacks.

    @client.event                              # discord.py: the message is a user's
    async def on_message(message): ...
    @tree.command(name="chat")                 # discord.py slash command: every option after
    async def chat(interaction, prompt: str):  # the interaction is typed by a user
    @app.message("hello")                      # Slack Bolt: message, event, body, say ...
    def greet(message, say): ...
    app.add_handler(MessageHandler(filters.TEXT, reply))   # python-telegram-bot: reply(update, context)
    gr.ChatInterface(respond)                  # Gradio: respond(message, history)
    button.click(answer, inputs=[box])         # Gradio event: answer's parameters
    class State(rx.State):                     # Reflex: an event handler's parameters come from
        @rx.event                              # the browser (a form's data, an input's value)
        def process_question(self, form_data: dict): ...

Each is recognised only in a module that imports the framework, so a CLI's `@app.command()`
(typer, click: the operator's own arguments) is not a source. These are sources of user data
for DS401; they are not web request paths for DS201 (a bot's event loop is not a request a user
waits on behind a load balancer).

Left out: frameworks not listed here, and callbacks registered through a variable or a loop.
"""

from __future__ import annotations

import ast

from dayshift.review.engine.module import ModuleIndex

DISCORD_EVENTS = {"on_message", "on_message_edit", "on_thread_create"}
SLACK_DECORATORS = {"message", "event", "command", "shortcut", "action", "view", "options"}
SLACK_PARAMS = {"message", "event", "body", "command", "payload", "shortcut", "action", "view"}
TELEGRAM_HANDLERS = {"MessageHandler", "CommandHandler", "ConversationHandler", "InlineQueryHandler"}
GRADIO_APPS = {"gradio.ChatInterface", "gradio.Interface"}
GRADIO_EVENTS = {"click", "submit", "change", "input", "upload"}


def user_params(index: ModuleIndex, function: ast.AST) -> list[str] | None:
    """The parameters of `function` that a chat platform or UI fills with user input, or None
    when it is no such entry point."""
    imported = {q.split(".", 1)[0] for q in index.imports.values()}
    names = _param_names(function)
    for deco in function.decorator_list:  # type: ignore[attr-defined]
        target = deco.func if isinstance(deco, ast.Call) else deco
        attr = target.attr if isinstance(target, ast.Attribute) else None
        if "discord" in imported and attr == "event" and function.name in DISCORD_EVENTS:  # type: ignore[attr-defined]
            return names[:1]
        if "discord" in imported and attr in {"command", "slash_command", "hybrid_command"}:
            return names[1:]  # the interaction (or context) comes first
        if "slack_bolt" in imported and attr in SLACK_DECORATORS:
            return [n for n in names if n in SLACK_PARAMS]
        if "reflex" in imported and attr == "event" and (index.qualname(target) or "").startswith("reflex."):
            return names
    if id(function) in registered(index):
        return names
    return None


def registered(index: ModuleIndex) -> set[int]:
    """Functions of this module registered as Telegram or Gradio callbacks (computed once per module)."""
    cached = getattr(index, "_user_callbacks", None)
    if cached is not None:
        return cached
    found: set[int] = set()
    imported = {q.split(".", 1)[0] for q in index.imports.values()}
    for call in index.calls if imported & {"telegram", "gradio"} else []:
        q = index.qualname(call.func) or ""
        callback = None
        if q.startswith("telegram.") and q.rsplit(".", 1)[-1] in TELEGRAM_HANDLERS and len(call.args) >= 2:
            callback = call.args[1]
        elif q in GRADIO_APPS or ("gradio" in imported and isinstance(call.func, ast.Attribute)
                                  and call.func.attr in GRADIO_EVENTS):
            callback = next((kw.value for kw in call.keywords if kw.arg == "fn"), call.args[0] if call.args else None)
        if isinstance(callback, ast.Name):
            found.update(id(s.node) for s in index.functions.get(callback.id, []))
    index._user_callbacks = found  # type: ignore[attr-defined]
    return found


def _param_names(function: ast.AST) -> list[str]:
    args = function.args  # type: ignore[attr-defined]
    names = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
    return [n for n in names if n not in {"self", "cls"}]
