"""The weighed evidence rules, per category, in seven languages.

A rule is a linear regular expression over the lower-cased main view and a weight: how likely a
match alone is an attack. Scores combine matches of different rules by noisy-OR, so one strong
phrase ("ignore all previous instructions") crosses the threshold by itself while weak cues (a
URL, a shell word, "system prompt" mentioned) only count together. Weights were set on the
development split (``bench/defence_corpus.py``), never on the test split.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

try:  # optional, as for the PII engine: the pure-Python path gives the same answers
    import hyperscan
except ImportError:  # pragma: no cover - depends on the platform's wheels
    hyperscan = None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    category: str
    weight: float
    pattern: re.Pattern[str]
    needs: tuple[str, ...]  # the rule only runs when one of these substrings occurs (cheap prefilter)
    group: str  # rules of one group count once (the same phrase in several languages)


def _r(id: str, category: str, weight: float, pattern: str) -> Rule:
    group = id.rsplit("_", 1)[0] if id[-3:] in _LANG_SUFFIXES else id
    return Rule(id, category, weight, re.compile(pattern, re.DOTALL), NEEDS[id], group)


_LANG_SUFFIXES = ("_es", "_de", "_fr", "_pt", "_zh", "_ru")

# Literal substrings, one of which every match of the rule contains. Python's ``in`` is far
# cheaper than running an alternation over the whole text, and most messages contain none.
NEEDS: dict[str, tuple[str, ...]] = {
    "override": (
        "ignor",
        "disregard",
        "forget",
        "skip",
        "overrid",
        "overrul",
        "bypass",
        "drop",
        "discard",
        "neglect",
        "abandon",
        "follow",
        "attention",
    ),
    "override_short": ("ignor", "disregard", "forget", "skip", "overrid", "bypass", "discard"),
    "new_instructions": ("instruction", "task", "orders", "rules"),
    "rules_void": ("apply", "void", "cancel", "obsolete", "revoked"),
    "task_cancel": ("task",),
    "obey_only": ("only",),
    "fake_system": ("system", "admin", "root", "developer", "im_start", "instruction"),
    "ignore_user": ("ignore the",),
    "addressed_output": ("respons", "answer", "repl", "output", "summary", "explanation", "elucidation"),
    "modify_output": ("respons", "answer", "repl", "output", "summary", "explanation", "elucidation"),
    "reply_format": ("repl", "respon", "answer", "your message", "your output"),
    "addressed_then_verb": ("in your", "to your", "within your"),
    "reply_directive": ("when you", "before", "to the user", "tell the user", "assistant", "dear "),
    "code_insert": (" code ",),
    "code_insert_weak": (" code ",),
    "override_es": ("instruccion", "indicacion", "reglas", "órdenes"),
    "override_de": ("anweisung", "regeln", "befehle", "vorgaben", "instruktion"),
    "override_fr": ("instructions", "consignes", "règles", "directives"),
    "override_pt": ("instruç", "instruco", "regras", "orientaç", "comandos"),
    "override_zh": ("忽略", "无视", "忘记", "忘掉", "不要理会", "忽视"),
    "override_ru": ("игнорир", "проигнорир", "забудь", "забудьте", "не обращай"),
    "dan": ("dan", "stan", "dude", "aim", "evil", "anything now"),
    "developer_mode": (" mode",),
    "no_rules": ("restriction", "rules", "limit", "filter", "censor", "polic", "guideline", "constraint", "moral"),
    "ignore_safety": ("safety", "content", "ethical", "openai", "anthropic"),
    "roleplay": ("play", "pretend", "evil", "unfiltered", "uncensored", "unrestricted", "amoral", "rogue"),
    "uncensored": ("unfiltered", "uncensored", "unrestricted", "amoral", "unaligned", "jailbroken"),
    "hypothetical": ("hypothetically", "fictional", "novel", "grandm", "grandf", "grandp"),
    "harmful_howto": ("how to", "how do i", "steps to", "recipe for"),
    "stay_in_character": ("character", "always answer", "refuse"),
    "jailbreak_es": ("modo ", "sin "),
    "jailbreak_de": ("modus", "ohne "),
    "jailbreak_fr": ("mode ", "sans "),
    "jailbreak_pt": ("modo ", "sem "),
    "jailbreak_zh": ("模式", "越狱", "限制"),
    "jailbreak_ru": ("режим", "без ", "нет "),
    "reveal_prompt": ("prompt", "instructions", "message", "rules", "configuration", "guidelines"),
    "words_above": ("above", "before this"),
    "reveal_secret": ("key", "credential", "password", "token", "variable", ".env", "secret"),
    "dump_config": ("content", "value", "everything in"),
    "env_secret_name": ("_key", "_token", "_secret", "_password", "passwd"),
    "repeat_given": ("instructions", "rules", "prompt", "guidelines", "word for word", "verbatim", "exactly"),
    "unbound": ("bound", "restricted", "constrained", "limited", "gpt"),
    "chat_to_url": (
        "http",
        "www.",
        "ftp://",
        ".com",
        ".net",
        ".org",
        ".io",
        ".xyz",
        ".ru",
        ".cn",
        ".top",
        ".info",
        ".biz",
        ".co",
        ".me",
        ".app",
        ".site",
        ".online",
    ),
    "open_param": ("http",),
    "mention_prompt": ("system prompt", "hidden instructions"),
    "secret_es": ("prompt", "instrucciones", "clave", "contraseña", "credencial"),
    "secret_de": ("prompt", "anweisung", "schlüssel", "passwört", "zugangsdaten"),
    "secret_fr": ("prompt", "instructions", "clé", "mots de passe", "identifiants"),
    "secret_pt": ("prompt", "instruç", "chave", "senha", "credencia"),
    "secret_zh": ("提示", "指令", "密钥", "密码", "凭证", "api"),
    "secret_ru": ("промпт", "подсказк", "инструкци", "ключ", "парол", "учётн", "учетн"),
    "destructive_shell": ("rm ", "mkfs", "dd ", ":|:", "chmod", "shutdown", "systemctl"),
    "download_exec": ("curl", "wget", "iwr", "invoke-webrequest", "urlretrieve", "powershell"),
    "reverse_shell": ("nc ", "ncat", "netcat", "/dev/tcp", "bash ", "socket.socket"),
    "sql_injection": ("'", "union", "drop", "--"),
    "code_exec": ("os.system", "subprocess", "eval", "exec", "__import__", "child_process"),
    "run_this": ("run ", "execute", "invoke", "call ", "use the", "use your"),
    "run_quoted": ("run", "exec", "paste", "type"),
    "shell_args": ("sh'", 'sh"', "cmd'", 'cmd"', "shell'", 'shell"'),
    "mining": ("xmrig", "miner", "mining", "stratum"),
    "sensitive_paths": ("/etc/", "/.ssh/", "id_rsa", ".aws/", "cookie", "authorized_keys"),
    "tool_es": ("ejecut", "corre"),
    "tool_de": ("führe", "fuehre", "starte"),
    "tool_fr": ("exécut", "execute", "lance"),
    "tool_pt": ("execut", "rode"),
    "tool_zh": ("执行", "运行"),
    "tool_ru": ("выполни", "запусти"),
    "image_beacon": ("![",),
    "send_data": (
        "send",
        "post",
        "upload",
        "forward",
        "transmit",
        "exfiltrat",
        "leak",
        "copy",
        "submit",
        "mail",
        "beam",
        "report back",
        "transfer",
        "export",
        "sync",
        "push",
        "deliver",
        "share",
        "dump",
        "pipe",
    ),
    "exfil_code": ("requests.", "urllib.request", "smtplib", "ftp.stor", "os.environ", "psutil"),
    "exfil_code_env": ("os.environ", "psutil.", "usb.core", "driverquery", "gethostname"),
    "url_with_data": ("http",),
    "link_in_reply": (
        "http",
        "www.",
        "ftp://",
        ".com",
        ".net",
        ".org",
        ".io",
        ".xyz",
        ".ru",
        ".cn",
        ".top",
        ".info",
        ".biz",
        ".co",
        ".me",
        ".app",
        ".site",
        ".online",
    ),
    "exfil_es": ("enví", "envia", "manda", "sube", "reenví"),
    "exfil_de": ("sende", "schick", "lade", "leite"),
    "exfil_fr": ("envoi", "envoy", "transfère", "téléverse", "publie"),
    "exfil_pt": ("envie", "envia", "mande", "carregue"),
    "exfil_zh": ("发送", "上传", "转发", "发到", "传到"),
    "exfil_ru": ("отправ", "перешли", "загрузи"),
}


# Shared fragments (bounded gaps: "{0,N}" only, no nested quantifiers).
_PREV = r"(?:previous|prior|above|earlier|preceding|original|initial|old|existing|system|developer|all|any|your)"
_INSTR = r"(?:instructions?|directions?|prompts?|rules|guidelines|orders|commands|context|programming|constraints|policies|messages|tasks?)"
_IGNORE = r"(?:ignore|disregard|forget|skip|override|overrule|bypass|drop|discard|neglect|abandon|stop following|do not follow|don't follow|pay no attention to)"
_RESP = r"(?:response|answer|reply|output|replies|responses|answers|summary|explanation|elucidation)"
_YOUR_RESP = rf"(?:your|the|each|every|all) {_RESP}"
_GAP = r"(?:[^.!?\n]|\.(?=\S)){0,160}"
_FORMAT = (
    r"(?:base ?(?:16|32|58|64|85)|caesar|substitution cipher|monoalphabetic|rot-?13|morse|pig latin|reverse(?:d)?\b|backwards?|emojis?"
    r"|spanish|german|french|italian|portuguese|chinese|japanese|russian|korean|arabic|hindi|dutch|polish|turkish|pirate)"
)
_URLISH = (
    r"(?:https?://|www\.|ftp://|[a-z0-9-]{2,40}\.(?:com|net|org|io|xyz|ru|cn|top|info|biz|co|me|app|site|online)\b)"
)

RULES: tuple[Rule, ...] = (
    # --- prompt injection: override of earlier instructions -------------------------------------
    _r("override", "prompt_injection", 0.85, rf"\b{_IGNORE}\b[^.!?\n]{{0,30}}\b{_PREV}\b[^.!?\n]{{0,30}}\b{_INSTR}\b"),
    _r(
        "override_short",
        "prompt_injection",
        0.6,
        rf"\b{_IGNORE} (?:everything|all) (?:you (?:were|have been) told|above|before)",
    ),
    _r(
        "new_instructions",
        "prompt_injection",
        0.6,
        r"\b(?:new|updated|real|actual|important|urgent) (?:instructions?|task|orders|rules)\s{0,3}[:!]",
    ),
    _r(
        "rules_void",
        "prompt_injection",
        0.6,
        rf"\b(?:{_PREV}|the) {_INSTR} (?:no longer apply|are (?:void|cancelled|canceled|obsolete|revoked)|do not apply)",
    ),
    _r(
        "task_cancel",
        "prompt_injection",
        0.55,
        r"\b(?:previous|original|current) task (?:is|has been) (?:cancelled|canceled|over|replaced)|\byour new task is\b",
    ),
    _r(
        "obey_only",
        "prompt_injection",
        0.55,
        r"\b(?:from now on|henceforth|instead),? (?:you )?(?:obey|follow|listen to) only\b|\bobey only\b",
    ),
    _r(
        "fake_system",
        "prompt_injection",
        0.45,
        r"(?:^|\n)\s{0,8}(?:\[?(?:system|admin|root|developer)\]?\s{0,2}:|<\|?(?:system|im_start)\|?>|###\s{0,3}(?:system|instruction))",
    ),
    _r(
        "ignore_user",
        "prompt_injection",
        0.6,
        r"\bignore the (?:user|user's|users'|customer's|question|request|query)\b",
    ),
    _r(
        "addressed_output",
        "prompt_injection",
        0.3,
        rf"\b(?:in|to|into|within|throughout|for|at the (?:end|start|beginning) of) {_YOUR_RESP}\b|\b{_YOUR_RESP} (?:should|must) (?:include|contain|mention|end|start|begin)",
    ),
    _r(
        "modify_output",
        "prompt_injection",
        0.5,
        rf"\b(?:convert|respond|make|ensure|keep|limit|express|present|structure|compose|conclude|finish|sign|wrap|spell|reverse|capitali[sz]e|shorten|expand|add|include|insert|integrate|incorporate|append|prepend|embed|mention|modify|change|rewrite|format|encode|translate|write|provide|give|use|replace|substitute|rearrange|remove|group|introduce|misspell|anagram|end|begin|start|suggest|promote|recommend|direct|tell|remind|urge|emphasi[sz]e|highlight|encrypt|apply|render|shift|augment|enhance|invert|enrich|spice up|embellish)\b{_GAP}\b(?:your|the) {_RESP}\b",
    ),
    _r(
        "reply_format",
        "prompt_injection",
        0.55,
        rf"\b(?:reply|respond|answer)\b[^.!?\n]{{0,30}}\b(?:in|into|using|with|as)\b[^.!?\n]{{0,12}}\b{_FORMAT}"
        rf"|\byour (?:answer|reply|response|message|output)(?:'s)?\b[^.!?\n]{{0,40}}\b(?:{_FORMAT}|cipher|letters?|positions?|character order|order of)"
        rf"|\b(?:{_FORMAT}|cipher)[^.!?\n]{{0,40}}\b(?:to|for|in|on) your (?:answer|reply|response|message|output)\b",
    ),
    _r(
        "addressed_then_verb",
        "prompt_injection",
        0.55,
        r"\b(?:in|to|within) your (?:response|answer|reply|output)\s{0,2},?\s{0,2}(?:please )?(?:include|mention|add|suggest|insert|say|state|tell|promote|recommend|refer|reference|allude|hint|advertise|claim|urge|ask)\b",
    ),
    _r(
        "reply_directive",
        "prompt_injection",
        0.35,
        r"\b(?:when you (?:answer|reply|respond)|before (?:answering|responding|you answer)|to the user\b|tell the user\b|assistant,|ai assistant\b|dear (?:ai|assistant|model|llm))",
    ),
    _r(
        "code_insert",
        "prompt_injection",
        0.6,
        r"\b(?:following|subsequent|below|this|next) code (?:block|snippet|excerpt|section|fragment|segment|piece|sample|passage)\b[^`]{0,80}\b(?:your|the) (?:code|solution|implementation|codebase|script|program|answer|response|reply|logic|elucidation|algorithm)\b"
        r"|\b(?:your|the) (?:code|solution|implementation|codebase)\b[^`\n]{0,60}\b(?:following|subsequent) code\b",
    ),
    _r(
        "code_insert_weak",
        "prompt_injection",
        0.35,
        r"\b(?:following|subsequent) code (?:block|snippet|excerpt|section|fragment|segment)\b",
    ),
    # multilingual overrides
    _r(
        "override_es",
        "prompt_injection",
        0.85,
        r"\b(?:ignora|ignore|olvida|olvide|descarta|omite)\b[^.!?\n]{0,30}\b(?:instrucciones|indicaciones|reglas|órdenes)\b",
    ),
    _r(
        "override_de",
        "prompt_injection",
        0.85,
        r"\b(?:ignoriere|ignorier|ignorieren sie|vergiss|vergessen sie|missachte)\b[^.!?\n]{0,40}\b(?:anweisungen|anweisung|regeln|befehle|vorgaben|instruktionen)\b",
    ),
    _r(
        "override_fr",
        "prompt_injection",
        0.85,
        r"\b(?:ignore|ignorez|oublie|oubliez|ne tiens pas compte)\b[^.!?\n]{0,30}\b(?:instructions|consignes|règles|directives)\b",
    ),
    _r(
        "override_pt",
        "prompt_injection",
        0.85,
        r"\b(?:ignore|ignora|esqueça|esquece|desconsidere)\b[^.!?\n]{0,30}\b(?:instruções|instrucoes|regras|orientações|comandos)\b",
    ),
    _r(
        "override_zh",
        "prompt_injection",
        0.85,
        r"(?:忽略|无视|忘记|忘掉|不要理会|忽视)[^。！？\n]{0,12}(?:指令|指示|说明|规则|提示|命令|要求)",
    ),
    _r(
        "override_ru",
        "prompt_injection",
        0.85,
        r"(?:игнорируй|игнорируйте|проигнорируй|забудь|забудьте|не обращай внимания на)[^.!?\n]{0,40}(?:инструкци|указани|правил|команд|промпт)",
    ),
    # --- jailbreak -----------------------------------------------------------------------------
    _r(
        "dan",
        "jailbreak",
        0.85,
        r"\b(?:you are|you're|act as|become|pretend to be|eres|du bist|tu es|você é|voce e|sei|ты) (?:now |ahora |jetzt |maintenant |agora |теперь )?(?:dan|stan|dude|aim|evil ?bot)\b|\bdo anything now\b",
    ),
    _r(
        "developer_mode",
        "jailbreak",
        0.8,
        r"\b(?:developer|dev|god|debug|jailbreak|jailbroken|unrestricted|admin|sudo) mode\b[^.!?\n]{0,40}\b(?:enabled|on|activated|active|enable|activate)\b|\b(?:enable|activate|enter|switch to)\b[^.!?\n]{0,10}\b(?:developer|dev|god|jailbreak|unrestricted|sudo) mode\b",
    ),
    _r(
        "no_rules",
        "jailbreak",
        0.6,
        r"\b(?:no|without any|without|free of|free from|zero) (?:restrictions|rules|limits|limitations|filters|censorship|content polic(?:y|ies)|guidelines|ethical (?:guidelines|constraints)|safety (?:guidelines|filters|rules)|morals)\b",
    ),
    _r(
        "ignore_safety",
        "jailbreak",
        0.7,
        r"\b(?:ignore|ignores|bypass|disable|turn off|break free of|without)\b[^.!?\n]{0,20}\b(?:safety|content|ethical|openai|anthropic)\b[^.!?\n]{0,15}\b(?:guidelines|policy|policies|filters|rules|restrictions|training)\b",
    ),
    _r(
        "roleplay",
        "jailbreak",
        0.45,
        r"\b(?:let's|lets|we will|we'll) (?:role-?play|play a game|pretend)\b|\bpretend (?:you are|to be|you're)\b|\b(?:you are|act as|roleplay as|role-play as) an? (?:evil|unfiltered|uncensored|unrestricted|amoral|rogue)\b",
    ),
    _r(
        "uncensored",
        "jailbreak",
        0.55,
        r"\b(?:unfiltered|uncensored|unrestricted|amoral|unaligned|jailbroken)\b[^.!?\n]{0,20}\b(?:ai|assistant|model|chatbot|version|mode|persona)\b",
    ),
    _r(
        "unbound",
        "jailbreak",
        0.75,
        r"\b(?:no longer|not) (?:bound|restricted|constrained|limited) by\b|\byou are (?:now )?(?:free ?gpt|evil ?gpt|chaos ?gpt|based ?gpt|anti ?gpt|\w{2,12}gpt)\b(?! (?:api|model|version|plugin))",
    ),
    _r(
        "hypothetical",
        "jailbreak",
        0.3,
        r"\b(?:hypothetically|in a fictional world|for a novel i'm writing|my (?:late |dead |deceased )?grand(?:mother|ma|father|pa))\b",
    ),
    _r(
        "harmful_howto",
        "jailbreak",
        0.45,
        r"\b(?:how to|how do i|steps to|recipe for) (?:make|build|synthesi[sz]e|cook|produce|brew|assemble|making|building)? ?(?:napalm|meth(?:amphetamine)?|a (?:pipe )?bomb|bombs|explosives?|nerve (?:gas|agents?)|sarin|ricin|anthrax|thermite|a molotov|molotov cocktails?|ransomware)\b",
    ),
    _r(
        "stay_in_character",
        "jailbreak",
        0.45,
        r"\b(?:stay in character|never break character|you must always answer|you cannot refuse|never refuse)\b",
    ),
    _r(
        "jailbreak_es",
        "jailbreak",
        0.75,
        r"\b(?:modo (?:desarrollador|dios|sin restricciones)|sin (?:restricciones|reglas|filtros|censura))\b",
    ),
    _r(
        "jailbreak_de",
        "jailbreak",
        0.75,
        r"\b(?:entwicklermodus|entwickler-modus|ohne (?:einschränkungen|regeln|filter|zensur))\b",
    ),
    _r(
        "jailbreak_fr",
        "jailbreak",
        0.75,
        r"\b(?:mode (?:développeur|developpeur|dieu|sans restriction)|sans (?:restrictions|règles|filtres|censure))\b",
    ),
    _r(
        "jailbreak_pt",
        "jailbreak",
        0.75,
        r"\b(?:modo (?:desenvolvedor|deus)|sem (?:restrições|restricoes|regras|filtros|censura))\b",
    ),
    _r(
        "jailbreak_zh", "jailbreak", 0.75, r"(?:开发者模式|开发模式|越狱|没有任何限制|不受任何限制|无限制模式|没有限制)"
    ),
    _r(
        "jailbreak_ru",
        "jailbreak",
        0.75,
        r"(?:режим\w{0,2} разработчика|без (?:ограничений|правил|фильтров|цензуры)|нет (?:никаких )?(?:ограничений|правил|фильтров))",
    ),
    # --- system prompt and secret exfiltration --------------------------------------------------
    _r(
        "reveal_prompt",
        "secret_exfiltration",
        0.8,
        r"\b(?:reveal|show|print|output|repeat|display|tell me|give me|share|dump|leak|disclose|write out|recite|paste|list|what (?:is|are))\b[^.!?\n]{0,40}\b(?:your|the) (?:system|initial|original|hidden|secret|internal|full|entire|developer|pre-?)\s?(?:prompt|instructions|message|rules|configuration|guidelines)\b",
    ),
    _r(
        "words_above",
        "secret_exfiltration",
        0.7,
        r"\b(?:repeat|print|output|copy)\b[^.!?\n]{0,20}\b(?:the )?(?:words|text|everything) (?:above|before this)\b",
    ),
    _r(
        "reveal_secret",
        "secret_exfiltration",
        0.7,
        r"\b(?:reveal|print|output|dump|leak|disclose|send|share|give me|tell me|show me|list|display|paste|post|upload|exfiltrate|extract|email|read out)\b[^.!?\n]{0,80}\b(?:your |the |all |any )?(?:api[ _-]?keys?|secret keys?|private keys?|credentials|passwords?|access tokens?|auth tokens?|bearer tokens?|session tokens?|env(?:ironment)? variables|\.env\b|secrets)\b",
    ),
    _r(
        "dump_config",
        "secret_exfiltration",
        0.6,
        r"\b(?:output|print|dump|reveal|show|display|share|send|list|echo|read out|give me|tell me|paste|leak)\b[^.!?\n]{0,30}\b(?:the )?(?:contents?|values?|everything) (?:of|in) (?:your|the) (?:configuration|config|settings|environment|env|memory|context window|system|keychain|vault)\b",
    ),
    _r(
        "env_secret_name",
        "secret_exfiltration",
        0.75,
        r"\b(?:dump|print|echo|output|reveal|send|show|tell me|give me|read|cat|list|leak|post|upload|printenv|share|paste|return)\b[^.!?\n]{0,40}\b[a-z0-9]{0,24}(?:_api_key|api_key|_secret_access_key|_secret_key|_access_token|_auth_token|_token|_secret|_password|_passwd)\b",
    ),
    _r(
        "repeat_given",
        "secret_exfiltration",
        0.7,
        r"\b(?:instructions|rules|prompt|guidelines) (?:you were|you've been|you have been) given\b|\b(?:repeat|recite|print|output|copy) (?:them|it|everything|your instructions|the instructions) (?:word for word|verbatim|exactly)\b",
    ),
    _r("mention_prompt", "secret_exfiltration", 0.25, r"\bsystem prompt\b|\bhidden instructions\b"),
    _r(
        "secret_es",
        "secret_exfiltration",
        0.8,
        r"\b(?:revela|muestra|muéstrame|dime|imprime|comparte)\b[^.!?\n]{0,30}\b(?:prompt del sistema|instrucciones (?:del sistema|ocultas|iniciales)|claves? (?:api|secretas?)|contraseñas|credenciales)\b",
    ),
    _r(
        "secret_de",
        "secret_exfiltration",
        0.8,
        r"\b(?:zeige|zeig|verrate|gib|nenne|drucke)\b[^.!?\n]{0,40}\b(?:system-?prompt|systemanweisungen|versteckten anweisungen|api-?schlüssel|passwörter|zugangsdaten)\b",
    ),
    _r(
        "secret_fr",
        "secret_exfiltration",
        0.8,
        r"\b(?:révèle|revele|montre|affiche|donne|dis)\b[^.!?\n]{0,30}\b(?:prompt système|prompt systeme|instructions (?:système|cachées|initiales)|clés? (?:api|secrètes?)|mots de passe|identifiants)\b",
    ),
    _r(
        "secret_pt",
        "secret_exfiltration",
        0.8,
        r"\b(?:revele|revela|mostre|mostra|diga|imprima)\b[^.!?\n]{0,30}\b(?:prompt do sistema|instruções (?:do sistema|ocultas|iniciais)|chaves? (?:de )?api|senhas|credenciais)\b",
    ),
    _r(
        "secret_zh",
        "secret_exfiltration",
        0.8,
        r"(?:告诉我|显示|输出|透露|打印|泄露|给我)[^。！？\n]{0,12}(?:系统提示|系统指令|初始指令|隐藏指令|密钥|密码|凭证|api ?key)",
    ),
    _r(
        "secret_ru",
        "secret_exfiltration",
        0.8,
        r"(?:покажи|раскрой|выведи|скажи|напиши|отправь)[^.!?\n]{0,30}(?:системн(?:ый|ые) (?:промпт|подсказк|инструкци)|скрыт(?:ые|ых) инструкци|api[- ]?ключ|парол|учётн|учетн)",
    ),
    # --- tool / command injection ----------------------------------------------------------------
    _r(
        "destructive_shell",
        "tool_injection",
        0.75,
        r"\brm\s{1,3}-(?:rf|fr|r)\s{1,3}(?:/|~|\*|\$home|--no-preserve-root)(?:\s|$|;|\*)|\bmkfs(?:\.\w{2,6})?\s|\bdd\s{1,3}if=/dev/(?:zero|random|urandom)\s{1,3}of=/dev/|:\(\)\s{0,2}\{\s{0,2}:\|:&\s{0,2}\};:|\bchmod\s{1,3}(?:-r\s{1,3})?777\s{1,3}/(?:\s|$)|\bshutdown\s{1,3}-h\s{1,3}now\b|\bsystemctl\s{1,3}stop\b",
    ),
    _r(
        "download_exec",
        "tool_injection",
        0.75,
        r"\b(?:curl|wget|iwr|invoke-webrequest)\b[^|\n;]{0,200}\|\s{0,3}(?:ba|z|da)?sh\b|\b(?:curl|wget)\b[^\n]{0,200}&&\s{0,3}chmod\s{1,3}\+x|\burlretrieve\([^)]{0,200}\)[^\n]{0,200}\n?[^\n]{0,80}\bexec\(|powershell\s{1,3}(?:-\w{1,20}\s{1,3}){0,4}-e(?:nc|ncodedcommand)?\s",
    ),
    _r(
        "reverse_shell",
        "tool_injection",
        0.8,
        r"\b(?:nc|ncat|netcat)\s{1,3}(?:-\w{1,4}\s{1,3}){0,4}-e\s{1,3}/bin/|/dev/tcp/\d|\bbash\s{1,3}-i\s{1,3}>&|\bsocket\.socket\([^)]{0,80}\)[^\n]{0,300}\b(?:subprocess|os\.dup2|pty\.spawn)",
    ),
    _r(
        "sql_injection",
        "tool_injection",
        0.7,
        r"'\s{0,3}(?:or|and)\s{1,3}'?\d'?\s{0,3}=\s{0,3}'?\d|'\s{0,3};\s{0,3}(?:drop|delete|truncate|update|insert|alter)\s{1,3}|\bunion\s{1,3}(?:all\s{1,3})?select\b[^\n]{0,80}\b(?:password|passwd|users|information_schema)|;\s{0,3}drop\s{1,3}table\b|--\s{0,3}$",
    ),
    _r(
        "code_exec",
        "tool_injection",
        0.45,
        r"\b(?:os\.system|subprocess\.(?:call|popen|run|check_output)|eval|exec|__import__|child_process\.exec|runtime\.getruntime\(\)\.exec)\s{0,2}\(",
    ),
    _r(
        "run_this",
        "tool_injection",
        0.4,
        r"\b(?:run|execute|invoke|call) (?:this|the following|these|the below)\b[^.!?\n]{0,30}\b(?:command|commands|script|code|tool|query|shell|function)s?\b|\b(?:use|call|invoke|run) (?:the|your) (?:shell|terminal|bash|exec|code[_ ]execution|python|command|sql) tool\b",
    ),
    _r(
        "run_quoted",
        "tool_injection",
        0.2,
        r"(?:^|[.!?\n:]\s{0,3}|\bplease\s{1,3}|\bnow\s{1,3}|\bthen\s{1,3}|\bjust\s{1,3})(?:run|execute|exec|paste|type)\s{1,3}(?:this\s{1,3}|the following\s{1,3})?(?:command\s{0,3}:?\s{0,3})?`",
    ),
    _r(
        "shell_args",
        "tool_injection",
        0.6,
        r"\[\s{0,2}['\"](?:sh|bash|zsh|cmd|powershell|/bin/sh|/bin/bash|shell)['\"]\s{0,2},\s{0,2}['\"](?:-c|/c|-command)['\"]",
    ),
    _r(
        "mining",
        "tool_injection",
        0.6,
        r"\b(?:xmrig|cryptominer|crypto ?miner|mining program|miner_url|stratum\+tcp)\b",
    ),
    _r(
        "sensitive_paths",
        "tool_injection",
        0.35,
        r"/etc/(?:passwd|shadow|sudoers)\b|~/\.ssh/|\bid_rsa\b|\.aws/credentials\b|\bauthorized_keys\b|\bcookies\.(?:txt|sqlite)\b|\bcookiejar\b",
    ),
    _r("tool_es", "tool_injection", 0.6, r"\b(?:ejecuta|ejecute|corre)\b[^.!?\n]{0,30}\b(?:comando|rm -rf|script)\b"),
    _r(
        "tool_de",
        "tool_injection",
        0.6,
        r"\b(?:führe|fuehre|starte)\b[^.!?\n]{0,30}\b(?:befehl|rm -rf|skript)\b[^.!?\n]{0,20}\baus\b",
    ),
    _r(
        "tool_fr",
        "tool_injection",
        0.6,
        r"\b(?:exécute|execute|exécutez|lance)\b[^.!?\n]{0,30}\b(?:commande|rm -rf|script)\b",
    ),
    _r("tool_pt", "tool_injection", 0.6, r"\b(?:execute|executa|rode)\b[^.!?\n]{0,30}\b(?:comando|rm -rf)\b"),
    _r("tool_zh", "tool_injection", 0.6, r"(?:执行|运行)[^。！？\n]{0,12}(?:命令|rm -rf|脚本|删除所有)"),
    _r("tool_ru", "tool_injection", 0.6, r"(?:выполни|запусти|выполните)[^.!?\n]{0,30}(?:команд|rm -rf|скрипт)"),
    # --- data exfiltration -------------------------------------------------------------------------
    _r(
        "image_beacon",
        "data_exfiltration",
        0.75,
        r"!\[[^\]\n]{0,200}\]\(\s{0,3}https?://[^)\s]{1,300}[?&/][^)\s]{0,40}(?:\{|\[|<|%7b|data=|q=|d=|secret|token|key|conversation|chat|history|prompt|user|info|session)[^)\s]{0,300}\)",
    ),
    _r(
        "send_data",
        "data_exfiltration",
        0.7,
        rf"\b(?:send|post|upload|forward|transmit|exfiltrate|leak|copy|submit|email|e-mail|mail|beam|report back|transfer|export|sync|push|deliver|share|dump|pipe)\b[^.!?\n]{{0,50}}\b(?:conversation|chat history|chat log|messages|context|memory|memories|data|database|records|customer (?:data|records|list)|user data|personal data|files?|documents?|emails|contacts|credentials|secrets|keys|tokens|everything|contents? of \S{{1,60}}|every (?:\w{{1,15}} ){{0,2}}(?:emails?|messages?|files?|documents?|records?|contacts?)|inbox|(?:credit card|card|payment|bank(?:ing)?|account|login|personal|customer|billing|user'?s?'?) (?:\w{{1,15}} )?(?:details|numbers?|information|info|data)|all (?:of )?(?:the|your) \w{{1,20}})[^.!?\n]{{0,60}}\b(?:to|at|into)\b[^.!?\n]{{0,20}}(?:{_URLISH}|[\w.+-]{{1,64}}@[\w-]{{1,63}}\.[a-z]{{2,10}}|webhook|pastebin|ngrok|discord|telegram|attacker|external|this (?:url|address|server|endpoint))",
    ),
    _r(
        "exfil_code",
        "data_exfiltration",
        0.55,
        r"\brequests\.(?:post|put)\([^)]{0,200}(?:data|json|files)\s{0,2}=|\burllib\.request\.urlopen\([^)]{0,200}data=|\bsmtplib\b[^\n]{0,300}\bsendmail\b|\bftp\.stor|\bos\.environ\b[^\n]{0,400}\brequests\.post|\bpsutil\b[^\n]{0,400}\brequests\.post",
    ),
    _r(
        "exfil_code_env",
        "data_exfiltration",
        0.35,
        r"\bos\.environ\[|\bos\.environ\.get\(|\bpsutil\.(?:process_iter|virtual_memory)|\busb\.core\.find|\bdriverquery\b|\bsocket\.gethostname\(\)",
    ),
    _r(
        "url_with_data",
        "data_exfiltration",
        0.45,
        r"https?://[^\s)\"']{1,200}[?&](?:data|q|d|payload|info|c|log|secret|token|conv|history)=\s{0,2}(?:\{|\[|<|\$\(|%7b)",
    ),
    _r(
        "chat_to_url",
        "data_exfiltration",
        0.6,
        rf"\b(?:chat|conversation|history|context|messages|transcript|memory|secrets?|keys?|data)\b[^.!?\n]{{0,60}}\b(?:to|into|at|on) (?:{_URLISH})",
    ),
    _r("open_param", "data_exfiltration", 0.4, r"https?://[^\s)\"']{1,200}[?&][a-z_]{1,12}=(?:$|[\s)\"'`])"),
    _r("link_in_reply", "data_exfiltration", 0.3, rf"(?:{_URLISH})[^\s]{{0,80}}"),
    _r(
        "exfil_es",
        "data_exfiltration",
        0.7,
        r"\b(?:envía|envia|manda|sube|reenvía)\b[^.!?\n]{0,50}\b(?:datos|conversación|historial|archivos|credenciales|contraseñas)\b[^.!?\n]{0,40}(?:https?://|@|\bservidor\b)",
    ),
    _r(
        "exfil_de",
        "data_exfiltration",
        0.7,
        r"\b(?:sende|schicke|schick|lade|leite)\b[^.!?\n]{0,50}(?:\w{0,20}daten|unterhaltung|\w{0,12}verlauf|dateien|passwörter)\b[^.!?\n]{0,40}(?:https?://|@|\bserver\b)",
    ),
    _r(
        "exfil_fr",
        "data_exfiltration",
        0.7,
        r"\b(?:envoie|envoyez|transfère|téléverse|publie)\b[^.!?\n]{0,50}\b(?:données|conversation|historique|fichiers|identifiants|mots de passe)\b[^.!?\n]{0,40}(?:https?://|@|\bserveur\b)",
    ),
    _r(
        "exfil_pt",
        "data_exfiltration",
        0.7,
        r"\b(?:envie|envia|mande|carregue)\b[^.!?\n]{0,50}\b(?:dados|conversa|histórico|arquivos|credenciais|senhas)\b[^.!?\n]{0,40}(?:https?://|@|\bservidor\b)",
    ),
    _r(
        "exfil_zh",
        "data_exfiltration",
        0.7,
        r"(?:发送|上传|转发|发到|传到)[^。！？\n]{0,20}(?:数据|对话|聊天记录|文件|密码|凭证|历史)[^。！？\n]{0,30}(?:https?://|@|服务器)",
    ),
    _r(
        "exfil_ru",
        "data_exfiltration",
        0.7,
        r"(?:отправь|перешли|загрузи|отправьте)[^.!?\n]{0,50}(?:данн|переписк|историю|файл|парол|учётн|учетн)[^.!?\n]{0,40}(?:https?://|@|сервер)",
    ),
)

# Indirect injection into data: a request addressed to an assistant, unrelated to the data it sits
# in, inside something that reads like an e-mail. A task that frames the data ("summarise this
# e-mail") names it and is not counted.
EMAIL_HEADER = re.compile(r"(?:^|\n|\|)\s{0,3}(?:subject|email_from|from|received date|to|cc|date|sent)\s{0,2}:")
EMBEDDED_REQUEST = re.compile(
    r"(?:^|[.!?\n|:]\s{0,3}|(?<=\d )|\s\s)"
    r"((?:write|provide|show me|analy[sz]e|recommend|help me|suggest|summari[sz]e|describe|determine|explain|list|give me"
    r"|create|generate|compose|draft|tell me|calculate|classify|what (?:are|is|were|movies)|how (?:can|do|does|have|has|should|would) (?:i|you|we|the)"
    r"|can you|could you|is this)\b[^.!?\n|]{24,200}[.?])"
)
FRAMES_DATA = re.compile(
    r"\b(?:this|the|these|that) (?:e-?mails?|messages?|notifications?|receipts?|invoices?|letters?|threads?|text|content)\b"
    r"|\b(?:above|below|following|attached|enclosed|the sender)\b"
    r"|\byour\b"  # a call to action for the e-mail's reader ("create your free account"), not for an assistant
)
EMBEDDED_REQUEST_WEIGHT = 0.5


EMAIL_BODY = re.compile(
    r"(?:^|\n|,)\s{0,3}(?:hi|hello|dear|hey(?: there)?) [a-z][a-z.-]{1,20}\b"
    r"|\b(?:best regards|kind regards|sincerely|if you have any questions|unsubscribe|view (?:it )?in (?:your )?browser)\b"
)


def _reads_like_email(text: str) -> bool:
    return len(EMAIL_HEADER.findall(text, 0, 4000)) >= 2 or EMAIL_BODY.search(text) is not None


def embedded_request(text: str) -> tuple[int, int] | None:
    """The span of a request to an assistant sitting inside e-mail-like data, if any."""
    if not _reads_like_email(text):
        return None
    for m in EMBEDDED_REQUEST.finditer(text):
        if not FRAMES_DATA.search(m.group(1)):
            return m.start(1), m.end(1)
    return None


# Cues that a text reports on attacks rather than carries one (incident reports, reviews, tutorials).
REPORTED_SPEECH = re.compile(
    # not inside an address, a path or a URL ("attacker@evil.example", "/payload")
    r"(?<![@\w./-])(?:tried|attempted|attempts?|attempting|detected|detection|blocked|flagged|caught|quarantined|example|examples|e\.g\.|such as|payload|"
    r"phishing|incident|attacker|attackers|adversary|malicious|injection attempt|red[- ]team|we saw|was seen|contained|containing|"
    r"classic|known|pattern|signature|rule|alert|report(?:ed)?|wrote|writes|says|said|like)(?![@\w/-])"
)
BACKTICKS = re.compile(r"`[^`\n]{1,600}`")
QUOTED = re.compile(r"`[^`\n]{1,600}`|\"[^\"\n]{1,600}\"|“[^”\n]{1,600}”|«[^»\n]{1,600}»|'[^'\n]{8,600}'")
CODE_FENCE = re.compile(r"```[^\n]{0,40}\n.{0,20000}?```|(?:^|\n)(?: {4}|\t)[^\n]{1,400}", re.DOTALL)


ALL_NEEDS: tuple[str, ...] = tuple(sorted({n for rule in RULES for n in rule.needs}))


def _literal(need: str) -> bytes:
    """A need as a Hyperscan expression matching its UTF-8 bytes literally."""
    return b"".join(b"\\x%02x" % byte for byte in need.encode("utf-8"))


class _NeedsIndex:
    """Which needs occur in a text: one Hyperscan pass when the module is installed (as the PII
    engine uses), else a substring test per need (measured faster than one alternation)."""

    def __init__(self, needs: tuple[str, ...]) -> None:
        self.needs = needs
        self.database: Any = None
        self._local = threading.local()
        if hyperscan is not None:
            self.database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            self.database.compile(
                expressions=[_literal(n) for n in needs],
                ids=list(range(len(needs))),
                elements=len(needs),
                flags=[hyperscan.HS_FLAG_SINGLEMATCH] * len(needs),
            )

    def present(self, text: str) -> set[str]:
        if self.database is None:
            return {n for n in self.needs if n in text}
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:  # Hyperscan scratch must not be shared between concurrent scans
            scratch = self._local.scratch = hyperscan.Scratch(self.database)
        found: set[str] = set()
        add, needs = found.add, self.needs

        def on_match(pid: int, start: int, end: int, flags: int, context: object) -> None:
            add(needs[pid])

        self.database.scan(text.encode("utf-8", "surrogatepass"), match_event_handler=on_match, scratch=scratch)
        return found


_NEEDS_INDEX = _NeedsIndex(ALL_NEEDS)


def present_needs(text: str) -> set[str]:
    """The needs that occur in ``text`` (the rules worth running on it)."""
    return _NEEDS_INDEX.present(text)
