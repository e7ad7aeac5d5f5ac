#!/usr/bin/env python3
"""Writes the chat-template golden fixtures in tests/golden/chat_templates/.

Each fixture file holds one template and the conversations rendered with it by Python jinja2,
configured as Hugging Face transformers' apply_chat_template configures it. The C++ renderer
(engine/chat/) must reproduce every expected output byte for byte
(tests/unit/test_chat_template.cpp).

Setup: /usr/bin/python3 -m venv /tmp/jinja-venv &&
       /tmp/jinja-venv/bin/pip install jinja2==3.1.4 gguf==0.17.1 numpy==1.26.4
Run from the repository root: /tmp/jinja-venv/bin/python tests/golden/gen_chat_fixtures.py

The SmolLM2 template is the model's own, read from models/SmolLM2-135M-Instruct.Q4_1.gguf.
The other templates are written here in the styles of the common model families (Gemma,
ChatML/Qwen with tools, Llama 3, Mistral, Phi, DeepSeek) plus two that exercise the rest of
the supported Jinja subset.
"""

import json
from datetime import datetime
from pathlib import Path

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "tests" / "golden" / "chat_templates"
SMOLLM2_GGUF = REPO / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


# --- the transformers environment -------------------------------------------------------


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers replaces jinja2's tojson, which would HTML-escape.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return datetime.now().strftime(format)


def make_environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def read_gguf_chat_template(path):
    from gguf import GGUFReader

    field = GGUFReader(str(path)).fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


# --- templates ---------------------------------------------------------------------------

GEMMA_STYLE = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
"""

CHATML_TOOLS = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\\n\\n' }}
    {%- else %}
        {{- 'You are a helpful assistant.\\n\\n' }}
    {%- endif %}
    {{- "# Tools\\n\\nYou may call one or more functions. Their signatures are within <tools></tools>:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nReturn each call as JSON within <tool_call></tool_call> tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- elif messages[0].role == 'system' %}
    {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
{%- else %}
    {{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

LLAMA3_STYLE = """{{- bos_token }}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- The system message goes first, with the date header. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{{- system_message }}
{{- "<|eot_id|>" }}

{%- if tools_in_user_message and not tools is none %}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
    {%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

MISTRAL_STYLE = """{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {%- if loop.first and system_message is defined %}
            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}
        {%- else %}
            {{- ' [INST] ' + message['content'] + ' [/INST]' }}
        {%- endif %}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' + message['content'] + eos_token}}
    {%- else %}
        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}
    {%- endif %}
{%- endfor %}
"""

PHI_STYLE = """{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}{{'<|system|>
' + message['content'] + '<|end|>
'}}{% elif message['role'] == 'user' %}{{'<|user|>
' + message['content'] + '<|end|>
'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>
' + message['content'] + '<|end|>
'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>
' }}{% else %}{{ eos_token }}{% endif %}"""

DEEPSEEK_STYLE = """{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{% set ns = namespace(is_first=false, is_tool=false, system_prompt='') %}{%- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}{{ bos_token }}{{ ns.system_prompt }}{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is not none %}{% set content = message['content'] %}{% if '</think>' in content %}{% set content = content.split('</think>')[-1].lstrip('\\n') %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor -%}{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"""

# Exercises what the model templates above leave out: macros with defaults and keyword
# arguments, loop variables, loop filters and else, break/continue, namespaces, filter and
# set blocks, raw, dict iteration and many filters, tests and str methods.
KITCHEN_SINK = """{#- A template that exercises the supported Jinja subset. -#}
{% macro render_content(content, prefix='> ') -%}
{%- if content is string -%}
{{ prefix }}{{ content }}
{%- elif content is iterable -%}
{%- for part in content %}{{ prefix }}{{ part.text | default('<' ~ part.type ~ '>') }}{% if not loop.last %} | {% endif %}{% endfor -%}
{%- endif -%}
{%- endmacro %}
{% set roles = messages | map(attribute='role') | list %}
{% set ns = namespace(turns=0, chars=0, last_user=none) %}
Roles: {{ roles | unique | join(', ') }} ({{ roles | length }} messages, {{ roles | select('equalto', 'user') | list | length }} from the user)
{% for message in messages if message.role != 'system' %}
{% set ns.turns = ns.turns + 1 %}
{% if message.role == 'user' %}{% set ns.last_user = loop.index %}{% endif %}
[{{ loop.index }}/{{ loop.length }}|{{ loop.revindex0 }}{{ ' first' if loop.first }}{{ ' last' if loop.last }}|{{ loop.cycle('odd', 'even') }}] {{ message.role | upper }}{% if loop.previtem is defined %} (after {{ loop.previtem.role }}){% endif %}:
{{ render_content(message.content) | indent(2, first=true) }}
{% if message.content is string %}
  chars={{ message.content | length }} words={{ message.content.split() | length }} lines={{ message.content.splitlines() | count }}
  head={{ message.content[:16] | title }} | {{ message.content[:16].title() }} | {{ message.content[:16] | capitalize }} | {{ message.content[:16] | lower }} | tail={{ message.content[-3:] | reverse }}
  repr={{ [message.content[:12]] }} json={{ message.content[:12] | tojson }} ascii={{ message.content[:12] | tojson(ensure_ascii=true) }} esc={{ message.content[:12] | e }}
  find={{ message.content.find('e') }} count={{ message.content.count('e') }} starts={{ message.content.startswith(('He', 'Bo')) }} ends={{ message.content.rstrip().endswith('?') }}
  replaced={{ message.content[:20].replace(' ', '_') | replace('e', 'E', 1) }} stripped=[{{ message.content | trim }}] [{{ message.content.strip(' .!?\\n') }}]
  {% set ns.chars = ns.chars + message.content | length %}
{% else %}
  parts={{ message.content | length }} types={{ message.content | map(attribute='type') | join('+') }}
{% endif %}
{% else %}
(no turns)
{% endfor %}
Turns: {{ ns.turns }}, characters: {{ ns.chars }}, last user turn: {{ ns.last_user }}, mean: {{ (ns.chars / ns.turns) | round(2) if ns.turns else 0 }}
{% for key, value in (meta | default({})) | dictsort %}{{ key }}={{ value }}{{ ', ' if not loop.last }}{% endfor %}

{% for word in 'alpha beta gamma delta epsilon'.split() %}{% if word == 'beta' %}{% continue %}{% endif %}{% if loop.index > 4 %}{% break %}{% endif %}{{ word[0] | upper }}{{ word[1:] }}{{ '-' if not loop.last }}{% endfor %}

{% for row in range(1, 8) | batch(3, 0) %}{{ row | join(' ') }}{{ ' / ' if not loop.last }}{% endfor %}

{% filter upper %}turns: {{ ns.turns }} of {{ messages | length }}{% endfilter %}

{% set footer %}{% raw %}{{ kept verbatim }}{% endraw %} ok{% endset %}{{ footer | trim }}
{{ '%s has %d roles' % ('this', roles | unique | list | length) }} {{ '{} + {} = {}'.format(2, 3, 2 + 3) }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ 2 ** 10 }} {{ 10 / 4 }} {{ 0.1 + 0.2 }} {{ 1e21 }} {{ 3 * '=' }}
{{ {'b': 2, 'a': [1, 2.5, none, true], 'c': ('x',)} }} {{ {'k': "it's"} | tojson }} {{ [3, 1, 2] | sort(reverse=true) }} {{ ['b', 'A', 'c'] | sort }} {{ 'x' in roles }} {{ 'user' in roles }}
{{ messages | selectattr('role', 'equalto', 'assistant') | map(attribute='content') | map('length') | list }} {{ messages | rejectattr('role', 'in', ['system', 'user']) | list | length }}
{{ 42 is divisibleby 7 }} {{ none is none }} {{ 1 is sameas 1 }} {{ true is boolean }} {{ 1.5 is float }} {{ '5' | int + 1 }} {{ '2.5' | float * 2 }} {{ -3 | abs }} {{ 2.5 | round }} {{ 3.14159 | round(2, 'floor') }}
{% with greeting = 'Hello', name = (messages | first).role %}{{ greeting }}, {{ name | capitalize }}! Last: {{ (messages | last).role }}{% endwith %}
"""

# Prints tool schemas by iterating their mappings: the output depends on the order of keys
# in the request, which render_ordered keeps.
TOOL_SCHEMA = """{%- macro param_line(name, spec, required) -%}
- {{ name }} ({{ spec.type | default('any') }}{{ ', required' if name in required }}){% if spec.description is defined %}: {{ spec.description }}{% endif %}
{%- if spec.enum is defined %} One of: {{ spec.enum | map('tojson') | join(', ') }}.{% endif %}
{%- endmacro -%}
{{ bos_token }}<|system|>
{%- if tools is defined and tools %}

You can call these functions:
{% for tool in tools %}
{% set fn = tool.function if tool.function is defined else tool %}
## {{ fn.name }}
{{ fn.description | default('(no description)') | trim }}
{% for name, spec in fn.parameters.properties.items() %}
{{ param_line(name, spec, fn.parameters.required | default([])) }}
{% endfor %}
Schema: {{ fn.parameters | tojson(separators=(',', ':')) }}
{% endfor %}
{%- endif %}
<|end|>
{% for message in messages %}
<|{{ message.role }}|>
{% if message.tool_calls is defined %}
{% for call in message.tool_calls %}
<call>{{ call.function | tojson(indent=2) }}</call>
{% endfor %}
{% else %}
{{ message.content }}
{% endif %}
<|end|>
{% endfor %}
{% if add_generation_prompt %}
<|assistant|>
{% endif %}
"""

# --- conversations -----------------------------------------------------------------------

SYSTEM = {"role": "system", "content": "You are a concise assistant."}

CONVERSATIONS = {
    "single_user": [{"role": "user", "content": "Hello!"}],
    "system_user": [SYSTEM, {"role": "user", "content": "What is 2+2?"}],
    "multi_turn": [
        SYSTEM,
        {"role": "user", "content": "Hi there."},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke."},
    ],
    "no_system_multi_turn": [
        {"role": "user", "content": "First question?"},
        {"role": "assistant", "content": "First answer."},
        {"role": "user", "content": "Second question?"},
        {"role": "assistant", "content": "Second answer."},
    ],
    "multiline": [
        {"role": "user", "content": "Line one\nLine two\n\n    indented line\n"},
        {"role": "assistant", "content": "  leading and trailing spaces  \n"},
        {"role": "user", "content": "tabs\there\r\nand a CRLF"},
    ],
    "unicode": [
        {"role": "system", "content": "Réponds en français, s'il te plaît."},
        {"role": "user", "content": "Bonjour, ça va? Ünïcödé — 你好，世界！ 🚀🙂 Привет"},
        {"role": "assistant", "content": "Très bien 👍 日本語もOK. Ελληνικά: ΣΊΣΥΦΟΣ"},
        {"role": "user", "content": "emoji only: 😀😃😄 and a ZWJ family 👨‍👩‍👧"},
    ],
    "empty_content": [
        {"role": "system", "content": ""},
        {"role": "user", "content": ""},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "Still there?"},
    ],
    "quotes_backslashes": [
        {"role": "user", "content": 'He said "hi" and it\'s C:\\path\\to\\file with a \\n literal'},
        {"role": "assistant", "content": "Use '\\\\' to escape: \"\\t\" {{ not jinja }} {% neither %}"},
    ],
}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": 'City name, e.g. "Zürich"'},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}

TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "time_in",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": []},
    },
}

TOOL_CONVERSATION = [
    {"role": "system", "content": "You can look up the weather."},
    {"role": "user", "content": "What's the weather in Zürich?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich", "unit": "celsius"}}}
        ],
    },
    {"role": "tool", "content": '{"temperature": 21.5, "condition": "sunny ☀"}'},
    {"role": "assistant", "content": "It is 21.5 °C and sunny in Zürich."},
]

CONTENT_PARTS = [
    {"role": "system", "content": [{"type": "text", "text": "Describe images briefly."}]},
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "  What is in this picture?  "}]},
    {"role": "assistant", "content": [{"type": "text", "text": "A cat on a sofa."}]},
    {"role": "user", "content": "And its colour?"},
]

THINKING = [
    {"role": "user", "content": "What is 6 * 7?"},
    {"role": "assistant", "content": "<think>\n6 * 7 = 42\n</think>\n\nThe answer is 42."},
    {"role": "user", "content": "Thanks!"},
]

BASIC = list(CONVERSATIONS)
ALTERNATING = ["single_user", "system_user", "multi_turn", "no_system_multi_turn", "unicode", "quotes_backslashes"]


def plan():
    """(fixture file, template name, source, special tokens, [(case name, messages, extra context)])."""
    smollm2 = read_gguf_chat_template(SMOLLM2_GGUF)
    chatml_tokens = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"}
    llama_tokens = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
    mistral_tokens = {"bos_token": "<s>", "eos_token": "</s>"}

    def basic(names):
        return [(name, CONVERSATIONS[name], {}) for name in names]

    return [
        ("smollm2.json", "SmolLM2-135M-Instruct (from the model's GGUF)", smollm2, chatml_tokens, basic(BASIC)),
        ("gemma_style.json", "Gemma 3 style", GEMMA_STYLE, {"bos_token": "<bos>", "eos_token": "<eos>"},
         basic(["single_user", "system_user", "multi_turn", "no_system_multi_turn", "multiline", "unicode"])
         + [("content_parts", CONTENT_PARTS, {}),
            ("roles_not_alternating", [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], {})]),
        ("chatml_tools.json", "ChatML / Qwen style with tools", CHATML_TOOLS, chatml_tokens,
         basic(BASIC) + [("tool_call", TOOL_CONVERSATION, {"tools": [WEATHER_TOOL, TIME_TOOL]}),
                         ("tools_no_system", CONVERSATIONS["single_user"], {"tools": [WEATHER_TOOL]})]),
        ("llama3_style.json", "Llama 3 style", LLAMA3_STYLE, llama_tokens,
         basic(BASIC) + [("tool_call", TOOL_CONVERSATION, {"tools": [WEATHER_TOOL]}),
                         ("custom_date", CONVERSATIONS["system_user"], {"date_string": "01 Jan 2025"})]),
        ("mistral_style.json", "Mistral [INST] style", MISTRAL_STYLE, mistral_tokens,
         basic(ALTERNATING) + [("assistant_first", [{"role": "assistant", "content": "hi"}], {}),
                               ("tool_role", [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"},
                                              {"role": "tool", "content": "z"}], {})]),
        ("phi_style.json", "Phi style", PHI_STYLE, {"bos_token": "<s>", "eos_token": "<|endoftext|>"}, basic(BASIC)),
        ("deepseek_style.json", "DeepSeek style", DEEPSEEK_STYLE,
         {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
         basic(["single_user", "system_user", "multi_turn", "unicode", "quotes_backslashes"])
         + [("thinking", THINKING, {})]),
        ("kitchen_sink.json", "Jinja subset coverage", KITCHEN_SINK, {},
         basic(["multi_turn", "unicode", "quotes_backslashes", "empty_content"])
         + [("content_parts", CONTENT_PARTS, {"meta": {"b": 2, "a": "x", "C": [1, 2]}}),
            ("only_system", [SYSTEM], {})]),
        ("tool_schema.json", "Tool schema printing (key order)", TOOL_SCHEMA, {"bos_token": "<s>"},
         [("tool_call", TOOL_CONVERSATION, {"tools": [WEATHER_TOOL, TIME_TOOL]}),
          ("no_tools", CONVERSATIONS["system_user"], {})]),
    ]


def with_sorted_keys(value):
    return json.loads(json.dumps(value, sort_keys=True))


def main():
    env = make_environment()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    conversations = 0
    for file_name, title, source, tokens, cases in plan():
        template = env.from_string(source)
        fixture = {"name": title, "template": source, "cases": []}
        for case_name, messages, extra in cases:
            for add_generation_prompt in (True, False):
                context = {"messages": messages, "add_generation_prompt": add_generation_prompt, **tokens, **extra}
                # nlohmann::json sorts object keys, so ChatTemplate::render sees every mapping in
                # sorted order. Contexts are sorted the same way, so that both render and
                # render_ordered must match, except those with tools, whose schemas are printed
                # in the order the request gives (render_ordered only).
                keys_sorted = "tools" not in extra
                if keys_sorted:
                    context = with_sorted_keys(context)
                case = {"name": f"{case_name}/{'prompt' if add_generation_prompt else 'no_prompt'}",
                        "keys_sorted": keys_sorted, "context": context}
                try:
                    case["expected"] = template.render(**context)
                except jinja2.exceptions.TemplateError as error:
                    case["expected_error"] = str(error)
                fixture["cases"].append(case)
                conversations += 1
        (OUT_DIR / file_name).write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {conversations} conversations to {OUT_DIR}")


if __name__ == "__main__":
    main()
