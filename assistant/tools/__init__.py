"""Tools the model may call: formats, the stream parser, built-ins, MCP servers, approvals.

Independent of the front ends: the engine, session, REPL, app and server use these public APIs.
Nothing here imports ``mcp`` or ``jsonschema`` at module level.

Files
-----
calls.py       ToolCall (id, name, arguments dict, raw; as_openai/as_ollama), the parser's events
               TextEvent / ToolCallEvent / ToolCallError, ToolResult (content, is_error, truncated,
               seconds; for_model()), Tool (name, description, parameters schema, source, read_only,
               run; schema()), ToolError (AssistantError), new_call_id, cap_text.
formats.py     ToolFormat and FORMATS (hermes, qwen_xml, llama3, mistral, functiongemma, pythonic,
               generic); detect_format(template_source, override=None, who=...) -> ToolFormat, or
               ToolsUnsupported (one sentence); format_by_name(name) for a manifest's tool_format.
               fmt.render(calls) is the text the model writes for calls.
fmt_*.py       The families' body parsers and renderers: fmt_json (Hermes, Llama 3, Mistral,
               generic), fmt_xml (Qwen 3.5), fmt_python (LFM2, Llama's python_tag), fmt_gemma
               (FunctionGemma), fmt_common (BadCall, JSON errors as sentences, JsonEnd).
messages.py    template_inputs(messages, tools, fmt) -> {"messages", "tools"} for the chat template:
               assistant tool_calls (arguments object or string), tool messages, empty content as ""
               or null, calls written into content where the template ignores tool_calls.
               arguments_object / to_call / tool_schema for OpenAI and Ollama request bodies.
parser.py      ToolCallParser(fmt, offered).feed(piece) -> [events]; .finish() -> [events];
               parse_reply(fmt, text, offered) for a whole reply. Text streams at once; a possible
               marker is held back; bad or unknown calls become ToolCallError, never exceptions.
deltas.py      OpenAIDeltas: a reply's calls as OpenAI ``delta.tool_calls`` items (id and name
               once, argument fragments after); merge_deltas reassembles them as a client does.
builtins.py    builtin_tools(allowed_dirs): read_file, list_folder (inside allowed folders only),
               current_time, calculator (calculator.py: AST walk, bounded sizes, no eval).
validate.py    schema_problem(name, schema, arguments) -> sentence or None (jsonschema).
grammar.py     argument_rules(tools) / call_grammar(fmt, rules, only, parallel, lazy) / tool_grammar(...):
               GBNF that forces a valid call in the format's markers (lazy: from the marker on, with
               GenerationParams.grammar_triggers); the server's tool_choice and --tool-grammar use it.
mcp_config.py  load_mcp_config(path|None) -> {name: McpServerConfig} from the mcpServers JSON
               (mcp.json in the config dir by default); bad JSON or keys -> ToolError naming both.
mcp_transport.py  The stdio transport: bounded messages, strict stdout, stderr tail, kill_tree.
mcp_client.py  McpHub(servers, start_timeout=None): list_tools(server), call(server, tool, args) -> ToolResult, stop,
               close; sessions on a background asyncio loop; timeouts kill the process tree.
registry.py    ToolSet.load(allow_dirs, mcp_config) / ToolSet(tools, hub): list(), get(), select(),
               offered(names) (for the parser), schemas(names) (for the template), call(call,
               approvals) -> ToolResult (validates, asks, runs, caps; never raises), close().
approvals.py   ApprovalPolicy(ask, preapproved, tools, allow_all).allows(tool, args); Decision
               (ALLOW_ONCE, ALLOW_ALWAYS, DENY); denied_message; ChainGuard(max_rounds=5).check(calls)
               -> None or the sentence that stops a chain (limit, or the same call repeated).

A turn with tools, as a front end runs it::

    fmt = detect_format(template_source, manifest.get("tool_format"))
    toolset = ToolSet.load(allow_dirs=dirs, mcp_config=path)
    policy, guard = ApprovalPolicy(ask=prompt, preapproved=cfg, tools=toolset.list()), ChainGuard()
    while True:
        ctx = template_inputs(history, toolset.list(), fmt)       # render with ctx
        parser = ToolCallParser(fmt, toolset.offered())
        events = [e for piece in stream for e in parser.feed(piece)] + parser.finish()
        calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
        errors = [e for e in events if isinstance(e, ToolCallError)]  # -> tool messages (e.as_result())
        if not calls and not errors or (stop := guard.check(calls)):
            break
        results = toolset.run_calls(calls, policy)                 # -> tool messages
"""
