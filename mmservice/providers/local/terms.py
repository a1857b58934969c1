"""The term lists behind local text moderation, per OpenAI category. Data only: edit here.

How to maintain (read this before adding a line):

* Each RULE has an `id` (stable: it is shown in `details.matched` of every result), the scores it
  contributes per category, and patterns. A text's score for a category is the noisy-OR of the
  weights of the distinct rules that matched it (`1 - prod(1 - w)`), capped at 0.99. So one weak
  hit stays below the review threshold (0.5 by default), a strong phrase or two weak hits cross it.
* Patterns are written in *normalized* text: lower case, no accents, no punctuation, words
  separated by one space. `I'll` becomes `ill`, `you're` becomes `youre`, `self-harm` becomes
  `selfharm` (the matcher lets words run together, so write `self harm`). The normalizer also
  undoes leetspeak (`1d10t` -> `idiot`) and spacing tricks (`k i l l`, `k.i.l.l`), and every letter
  of a pattern matches a run of that letter (`idiooot` matches `idiot`), so never write variants
  for those.
* Pattern syntax, token by token (tokens separated by spaces):
    word        the word, plus an optional plural `s`;           `word=` exactly that word
    word~       the word plus inflections (s, es, ed, d, ing, er, ers)
    word*       any word starting with `word`
    a|b|c       one of these words (each may carry = ~ *)
    {slot}      one of the phrases listed under SLOTS[slot] (phrases may contain slots)
    token?      the token is optional
  A pattern matches on word boundaries at both ends.
* BENIGN phrases are cut out of the text before any rule runs (and before the profanity model
  sees it): "kill the process" leaves nothing to match. Keep them specific: a benign phrase that
  is too broad ("kill all") would hide real threats.
* Categories judged here: see `ASSESSED`. A category not listed is not judged (absent from the
  scores), never reported as 0. `hate/threatening` also takes min(hate, violence) of the text.

Sources: written for this project from OpenAI's published category definitions, with the
well-known English slur and insult vocabulary found in public moderation word lists. It is a
baseline, not a classifier: it misses paraphrase, sarcasm, context and other languages.
"""
from __future__ import annotations

VERSION = "terms-v1"

ASSESSED = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "self-harm",
    "self-harm/intent",
    "sexual",
    "violence",
)

SLOTS: dict[str, list[str]] = {
    # --- who is addressed or targeted ---------------------------------------------------------
    "you": ["you=", "u=", "ya=", "yu=", "yall=", "you all", "you guys", "ye=", "thee="],
    "target": [
        "{you}", "him=", "her=", "them=", "us=",
        "your|ur family", "your|ur whole family", "your|ur kids", "your|ur children",
        "your|ur mom|mother|mum|dad|father|wife|husband|sister|brother|son|daughter|friends",
        "everyone=", "everybody=", "all of you", "all of them", "this|that guy|girl|bitch|bastard",
    ],
    # "your"/"ur" often mean "you're", but only with an article is that sure ("your a idiot").
    "you_are": ["you are|r|re", "youre=", "u are|r", "yall are|r", "you all are",
                "you guys are", "your|ur a|an|such|so"],
    "article": ["a=", "an=", "such a|an", "the="],
    "intens": ["so=", "such=", "really=", "very=", "fucking=", "fuckin=", "freaking=", "damn=",
               "absolute=", "complete=", "total=", "utter=", "little=", "stupid=", "dumb=",
               "pathetic=", "worthless=", "useless=", "ugly=", "fat="],
    # --- insults ------------------------------------------------------------------------------
    # Insults that are insults even when nobody is addressed (scored on their own).
    "insult_strong": [
        "idiot", "moron", "imbecile", "cretin", "dumbass~", "jackass~", "asshole", "arsehole",
        "bastard", "bitch~", "cunt", "dickhead", "prick", "twat", "wanker", "tosser", "scumbag",
        "piece of shit|crap", "retard", "douchebag", "slut", "whore", "skank", "motherfucker",
        "fucker", "fuckface", "shithead", "dipshit", "numbskull", "nitwit", "halfwit", "dimwit",
        "fatass", "lowlife",
    ],
    # Every insult, including words that insult only when aimed at someone ("you pig").
    "insult": [
        "idiot", "moron", "imbecile", "cretin", "dumbass~", "jackass~", "asshole", "arsehole",
        "bastard", "bitch~", "cunt", "dickhead", "dick=", "prick", "twat", "wanker", "tosser",
        "loser", "scum", "scumbag", "piece of shit|crap|garbage|trash", "pos=", "retard",
        "freak", "creep", "jerk", "douche", "douchebag", "trash=", "garbage=", "worm",
        "pig", "slut", "whore", "skank", "hoe", "fool", "dunce", "numbskull", "nitwit",
        "halfwit", "dimwit", "degenerate", "waste of space|oxygen|air|skin",
        "motherfucker", "fucker", "fuckface", "shithead", "dipshit", "bozo", "buffoon",
        "simpleton", "ignoramus", "clown", "failure", "disgrace", "embarrassment", "nobody=",
        "subhuman", "vermin", "parasite", "cockroach", "rat", "maggot", "lowlife",
        "airhead", "bimbo", "cow=", "dog=", "dumbo", "fatass", "fatso", "pervert", "weirdo",
        "wimp", "coward", "nerd=", "noob", "tool=",
    ],
    "insult_adj": [
        "worthless", "pathetic", "stupid", "dumb", "ugly", "fat", "useless", "disgusting",
        "brainless", "clueless", "incompetent", "retarded", "braindead", "brain dead",
        "ignorant", "filthy", "gross", "hideous", "repulsive", "revolting", "vile",
        "a joke", "a disgrace", "an embarrassment", "a failure", "trash=",
        "garbage=", "pitiful", "spineless", "dense", "idiotic", "moronic", "subhuman",
        "unbearable", "insufferable", "a waste of space|oxygen|air",
    ],
    # --- violence -----------------------------------------------------------------------------
    "strong_harm": [
        "kill~", "murder~", "stab~", "shoot~", "strangle~", "strangling", "behead~",
        "decapitate~", "decapitating", "slaughter~", "torture~", "torturing", "lynch~",
        "rape~", "raping", "drown~", "suffocate~", "suffocating", "poison~", "execute~",
        "executing", "gut=", "skin alive", "burn alive", "bury alive", "shoot up", "shot=",
        "slit the|your? throat", "cut your|ur throat", "put a bullet in", "blow up",
        "run over",
    ],
    "weak_harm": [
        "hurt~", "hit=", "hits=", "hitting", "punch~", "beat~", "beat up", "beaten",
        "slap~", "kick~", "smack~", "choke~", "choking", "smash~", "bash~", "batter~",
        "whoop~", "knock out", "pummel~", "attack~", "end=", "destroy~", "break~",
        "mess up", "fuck up", "jump=",
    ],
    "threat_lead": [
        "i will|shall|would|could", "ill=", "i ll", "id=", "i am|m (going to|gonna)",
        "im (going to|gonna)", "imma", "ima", "i want to", "i wanna", "we will|shall", "well=",
        "we are|re (going to|gonna)", "were (going to|gonna)", "let me", "lemme",
        "i swear i will|ill", "i am|m coming to", "im coming to", "i promise i will|ill",
        "i will|ill find you and", "i cant wait to", "someone should", "somebody should",
        "i hope someone|somebody", "i am|m (gonna|going to) find you and", "im (gonna|going to) find you and",
    ],
    "threat_mod": ["fucking=", "fuckin=", "literally=", "actually=", "really=", "personally=",
                   "come and", "come over and", "find and", "go and", "just="],
    "violent_word_strong": [
        "murder~", "massacre~", "behead~", "beheading", "decapitate~", "decapitation",
        "dismember~", "dismemberment", "mutilate~", "mutilation", "slaughter~", "genocide",
        "ethnic cleansing", "torture~", "torturing", "stab~", "stabbing", "strangle~",
        "lynch~", "lynching", "mass shooting", "school shooting", "terrorist attack",
        "suicide bombing", "suicide bomber", "car bomb", "bloodbath", "assassinate~",
        "assassination", "shot dead", "stabbed to death", "beaten to death", "open fire",
        "opened fire", "gunned down", "gun down",
    ],
    "violent_word_mild": [
        "kill~", "killing", "shoot~", "shooting", "bomb~", "bombing", "gunfire", "gunman",
        "assault~", "attack~", "bloodshed", "violent", "violence", "weapon", "stab wound",
    ],
    # --- hate ---------------------------------------------------------------------------------
    "group": [
        "jews", "jew=", "jewish people", "muslims", "muslim people", "moslems", "christians",
        "catholics", "hindus", "sikhs", "blacks", "black people", "whites", "white people",
        "asians", "asian people", "chinese=", "chinese people", "indians", "mexicans",
        "latinos", "hispanics", "arabs", "africans", "immigrants", "migrants", "refugees",
        "foreigners", "gays", "gay people", "lesbians", "homosexuals", "queers",
        "trans people", "transgenders", "transgender people", "women", "females",
        "gypsies", "roma=", "disabled people", "the disabled", "autistic people",
        "poor people", "minorities",
    ],
    "dehumanizing": [
        "animals", "vermin", "rats", "cockroaches", "roaches", "parasites", "subhuman",
        "sub human", "savages", "filth", "scum", "trash", "garbage", "inferior", "a disease",
        "a cancer", "a plague", "diseased", "apes", "monkeys", "pigs", "dogs", "evil",
        "not human", "not people", "worthless", "disgusting", "an abomination", "abominations",
        "degenerates", "degenerate", "mentally ill", "a mental illness", "rapists",
        "criminals", "terrorists", "invaders", "stupid", "dirty", "lazy", "a virus",
    ],
    "exterminate": [
        "die=", "be killed", "be shot", "be hanged", "be exterminated", "be wiped out",
        "be gassed", "be eradicated", "be eliminated", "be deported and shot", "burn=",
        "hang=", "be lynched", "not exist", "not be allowed to live", "all die",
    ],
    "slur": [
        "nigger", "niggers", "nigga", "niggas", "negroid", "coon", "jigaboo", "porch monkey",
        "jungle bunny", "sambo", "kike", "yid=", "heeb=", "hymie", "spic", "spick",
        "wetback", "beaner", "chink", "gook", "zipperhead", "slant eye", "slanteye",
        "raghead", "towelhead", "sand nigger", "camel jockey", "paki", "kaffir", "kaffer",
        "gyppo", "pikey", "faggot", "fag=", "fags=", "faggy", "dyke", "tranny", "trannies",
        "shemale", "retard=", "retards=", "mongoloid", "spastic", "spaz", "honky",
        "redskin", "injun", "squaw", "halfbreed", "half breed", "cracker ass",
    ],
    "hate_symbol": [
        "heil hitler", "sieg heil", "1488", "14 88", "fourteen words", "white power",
        "white supremacy", "white supremacist", "white genocide", "great replacement",
        "holocaust never happened|didnt happen|was a hoax|is a lie|is a myth", "jewish conspiracy",
        "zog=", "race traitor", "racial purity", "master race", "gas chamber~",
    ],
    # Games and sports, for trash talk that is not a threat ("I'll kill you at Mario Kart").
    "game": [
        "chess", "checkers", "mario kart", "mariokart", "smash", "fortnite", "minecraft",
        "call of duty", "cod=", "halo", "overwatch", "valorant", "league", "fifa", "madden",
        "poker", "cards", "scrabble", "monopoly", "trivia", "pool", "darts", "golf", "bowling",
        "tennis", "ping pong", "basketball", "football", "soccer", "pickleball", "the game",
        "this game", "that game", "video games", "games", "the tournament", "the finals",
        "a race", "the race", "arm wrestling", "karaoke",
    ],
    # --- self-harm ----------------------------------------------------------------------------
    "selfharm_act": [
        "kill myself", "killing myself", "end my life", "end it all", "end my own life",
        "take my own life", "take my life", "commit suicide", "cut myself", "cutting myself",
        "hurt myself", "harm myself", "harming myself", "slit my wrists", "overdose~",
        "hang myself", "hanging myself", "jump off a|the bridge|building|roof", "unalive myself",
        "starve myself", "not wake up", "shoot myself", "drown myself", "poison myself",
        "burn myself", "disappear forever", "die=",
    ],
    "selfharm_lead": [
        "i (want to|wanna)", "i am|m (going to|gonna)", "im (going to|gonna)", "i will|shall", "ill=",
        "i plan to", "i am|m planning to", "im planning to", "i need to", "i should", "i might",
        "i think (ill|i will)", "i have|ve decided to", "ive decided to", "i am|m ready to",
        "im ready to", "tonight i will|ill", "i just (want to|wanna)", "i really (want to|wanna)",
        "i feel like i want to", "i am|m about to", "im about to", "i wish i could",
        "i keep thinking about", "i cant stop thinking about",
    ],
    # --- illicit ------------------------------------------------------------------------------
    "drug": [
        "cocaine", "crack cocaine", "heroin", "meth=", "crystal meth", "methamphetamine",
        "fentanyl", "mdma", "lsd=", "ketamine", "ghb=", "rohypnol", "roofies", "roofie",
        "date rape drug", "oxycontin", "oxys=", "percs=", "xanax bars", "molly=", "shrooms",
        "pcp=", "angel dust", "speedballs", "drugs=", "weed=", "coke=", "crack=",
    ],
    "drug_hard": [
        "cocaine", "crack cocaine", "heroin", "crystal meth", "methamphetamine", "fentanyl",
        "rohypnol", "date rape drug", "angel dust",
    ],
    "acquire": [
        "buy=", "buying", "sell=", "selling", "score=", "cop=", "order=", "ordering",
        "where to buy|get|find|score", "where can i buy|get|find|score", "plug for", "ship=",
        "deal=", "dealing", "smuggle~", "cook=", "cooking", "make=", "making", "synthesize~",
        "grow=", "growing", "get some", "get me some", "need some",
    ],
    "howto": [
        "how to", "how do i|you|we", "how can i|you|we", "how would i|you|we", "ways to",
        "best way to", "easiest way to", "help me", "teach me|us (to|how to)", "tutorial on|for",
        "guide to|for", "instructions for|to|on", "steps to", "tips for|on|to", "tell me how to",
        "show me how to", "explain how to",
    ],
    "illicit_act": [
        "make|build|assemble a|an? (bomb|pipe bomb|explosive|explosives|ied|molotov cocktail)",
        "make|cook|synthesize meth|crack|fentanyl|drugs", "hack into", "hack someones|somebodys",
        "hack a|an|my|his|her ex|email|account|phone|bank|wifi", "steal=", "stealing",
        "shoplift~", "launder money", "launder~", "pick a lock", "hotwire a car",
        "forge a|an? signature|document|check|passport", "counterfeit~", "evade taxes",
        "avoid paying taxes illegally", "make|get|buy a fake id", "make a ghost gun",
        "buy a gun without a? background check", "break into", "poison someone",
        "ddos", "phish~", "make ransomware", "get away with murder", "dispose of a body",
        "hide a body", "stalk someone", "track someones phone without", "scam=", "scam people",
        "skim credit cards", "card=", "carding", "bypass a breathalyzer", "smuggle~",
        "buy stolen", "sell stolen",
    ],
}

RULES: list[dict] = [
    # ---------------------------------------------------------------- harassment ----------------
    {"id": "harassment.insult", "scores": {"harassment": 0.45}, "patterns": ["{insult_strong}"]},
    {"id": "harassment.adj_insult", "scores": {"harassment": 0.6},
     "patterns": ["{insult_adj} {insult_strong}"]},
    {"id": "harassment.you_insult", "scores": {"harassment": 0.85},
     "patterns": ["{you} {intens}? {intens}? {insult}", "{you} {insult_adj} {insult}"]},
    {"id": "harassment.you_are_insult", "scores": {"harassment": 0.9},
     "patterns": ["{you_are} {article}? {intens}? {intens}? {insult_adj}? {insult}"]},
    {"id": "harassment.you_are_adj", "scores": {"harassment": 0.7},
     "patterns": ["{you_are} {intens}? {intens}? {insult_adj}",
                  "{you} look|sound|smell|seem {intens}? {insult_adj}"]},
    {"id": "harassment.shut_up", "scores": {"harassment": 0.4},
     "patterns": ["shut up", "shut the fuck|hell up", "stfu", "shut your|ur mouth|face|trap"]},
    {"id": "harassment.rejection", "scores": {"harassment": 0.7},
     "patterns": ["(nobody|no one) (likes|loves|wants|cares about) you|u",
                  "everyone|everybody hates you|u", "you disgust me", "you make me sick",
                  "you should be ashamed", "go to hell", "screw you", "fuck you|u|off",
                  "get lost loser", "drop dead", "eat shit", "suck my dick|cock|balls",
                  "you are|re|r a? waste of", "i hate you|u", "nobody asked you|u",
                  "your|ur mom|mother is a|an? {insult}", "go back to the kitchen",
                  "kiss my ass|arse", "you|u suck=", "you|u stink", "you|u are|r trash|garbage",
                  "youre trash|garbage"]},
    {"id": "harassment.kys", "scores": {"harassment": 0.9, "harassment/threatening": 0.7,
                                        "violence": 0.5, "self-harm": 0.5},
     "patterns": ["kys", "kill|hang|neck|shoot yourself|urself|yourselves", "go die",
                  "go and? kill yourself|urself", "drink bleach", "you|u should (die|kill yourself)",
                  "i hope you|u die", "hope you|u die", "why dont you|u die",
                  "do the world a favor and die", "the world would be better without you|u",
                  "unalive yourself|urself"]},
    # --------------------------------------------------------------- threats / violence ---------
    {"id": "violence.word_strong", "scores": {"violence": 0.45}, "patterns": ["{violent_word_strong}"]},
    {"id": "violence.word_mild", "scores": {"violence": 0.3}, "patterns": ["{violent_word_mild}"]},
    {"id": "violence.strong_target", "scores": {"violence": 0.75, "harassment/threatening": 0.65},
     "patterns": ["{strong_harm} {target}"]},
    {"id": "violence.weak_target", "scores": {"violence": 0.35, "harassment/threatening": 0.3},
     "patterns": ["{weak_harm} {target}"]},
    {"id": "threat.direct", "scores": {"violence": 0.9, "harassment/threatening": 0.9,
                                       "harassment": 0.7},
     "patterns": ["{threat_lead} {threat_mod}? {threat_mod}? {strong_harm} {target}",
                  "{threat_lead} {threat_mod}? {threat_mod}? {weak_harm} {target}",
                  "{threat_lead} {threat_mod}? {strong_harm} your|ur"]},
    {"id": "threat.body", "scores": {"violence": 0.85, "harassment/threatening": 0.85,
                                     "harassment": 0.6},
     "patterns": ["put a bullet in|through your|ur|you", "blow your|ur brains|head out|off",
                  "slit your|ur throat", "cut your|ur throat", "break|snap your|ur neck|legs|bones|face|jaw|arms|skull",
                  "smash|bash|cave|kick your|ur face|head|skull|teeth in?",
                  "beat|kick|knock the shit|crap|hell|life out of you|u",
                  "beat you|u to death", "stab you|u to death", "rip your|ur head|throat|heart out",
                  "burn your|ur house down", "gut you|u like a fish"]},
    {"id": "threat.fate", "scores": {"harassment/threatening": 0.75, "violence": 0.6,
                                     "harassment": 0.6},
     "patterns": ["{you} (will|are going to|are gonna|re going to|re gonna|gonna|going to) (die|pay|bleed|suffer)",
                  "{you} are|re dead meat", "youre dead meat", "youre dead=", "you|u are dead=",
                  "your|ur days are numbered", "i know where you|u live",
                  "i will|ill find you|u", "you|u will regret this|it",
                  "you|u better watch your back", "watch your|ur back",
                  "sleep with one eye open", "its your|ur funeral", "count your days"]},
    # --------------------------------------------------------------------- hate -----------------
    {"id": "hate.slur", "scores": {"hate": 0.85, "harassment": 0.5}, "patterns": ["{slur}"]},
    {"id": "hate.dehumanize", "scores": {"hate": 0.9, "harassment": 0.5},
     "patterns": ["{group} are|is|r {intens}? {intens}? {dehumanizing}",
                  "{group} are|is|r (just|all|nothing but) {dehumanizing}",
                  "all {group} are|r {intens}? {dehumanizing}"]},
    {"id": "hate.hostility", "scores": {"hate": 0.75},
     "patterns": ["i hate|despise {group}", "i hate all|the {group}", "hate all {group}",
                  "{group} (should not|shouldnt) (exist|have rights|vote|be allowed)",
                  "{group} (dont|do not) deserve (rights|to live|respect)",
                  "{group} are ruining|destroying|invading|replacing|infesting",
                  "ban all {group}", "deport all|the {group}", "no {group} allowed",
                  "{group} go back to|where", "go back to ((your|ur) country|where you came from)",
                  "send them back"]},
    {"id": "hate.symbols", "scores": {"hate": 0.7}, "patterns": ["{hate_symbol}"]},
    {"id": "hate.threat", "scores": {"hate": 0.9, "hate/threatening": 0.9, "violence": 0.8},
     "patterns": ["{group} (should|must|need to|deserve to|will) all? {exterminate}",
                  "(death to|kill all|kill the|exterminate|gas the|gas all|hang all|shoot all|wipe out the?) {group}",
                  "{strong_harm} all|every|the|some? {group}", "race war now", "day of the rope"]},
    # ---------------------------------------------------------------- self-harm ------------------
    {"id": "selfharm.topic", "scores": {"self-harm": 0.4},
     "patterns": ["suicide", "suicidal", "self harm", "selfharming", "self injury",
                  "self mutilation", "cutting=", "kms", "unalive"]},
    {"id": "selfharm.act", "scores": {"self-harm": 0.75},
     "patterns": ["{selfharm_act}"]},
    {"id": "selfharm.intent", "scores": {"self-harm": 0.9, "self-harm/intent": 0.9},
     "patterns": ["{selfharm_lead} {selfharm_act}",
                  "i wish i was|were dead", "i wish i was|were never born",
                  "i (dont|do not) want to (live|be alive|exist) anymore?",
                  "i want it all to end", "i want to disappear forever", "no reason to live",
                  "nothing to live for", "better off dead", "better off without me",
                  "i cant go on", "cant go on anymore", "goodbye cruel world",
                  "this is my last day|night|message|post", "my suicide note",
                  "writing a|my suicide note", "i am|m (going to|gonna) end it",
                  "im (going to|gonna) end it", "i have|ve been cutting", "ive been cutting",
                  "i (want to|wanna) kms", "im gonna kms", "i took too many pills"]},
    # ------------------------------------------------------------------ sexual -------------------
    {"id": "sexual.explicit", "scores": {"sexual": 0.7},
     "patterns": ["porn", "porno", "pornography", "pornographic", "xxx", "blowjob~", "blow job",
                  "handjob~", "hand job", "cumshot", "creampie", "gangbang~", "orgasm~",
                  "masturbat*", "jerk|jack off", "jerking|jacking off", "wank~", "dildo",
                  "hentai", "milf", "sex tape", "sexting", "bukkake", "rimjob", "deepthroat~",
                  "jizz", "cum=", "cumming", "threesome", "erection", "boner", "titties",
                  "titty", "camgirl", "fuck me", "fucking her|him|me", "lets fuck",
                  "wanna fuck", "want to fuck", "suck my dick|cock", "ride my|your dick|cock",
                  "naked pics|photos|pictures", "send nudes", "nudes=", "dick pic~",
                  "make love to", "have|having|had sex", "sexual intercourse", "horny"]},
    {"id": "sexual.suggestive", "scores": {"sexual": 0.4},
     "patterns": ["sex=", "sexy", "naked", "nude", "nudity", "boob~", "tits=", "nipple~",
                  "cock=", "dick=", "pussy", "penis", "vagina", "clit", "anal=", "bdsm",
                  "fetish", "kinky", "onlyfans", "stripper", "strip club", "lingerie",
                  "slut", "whore", "erotic", "seduce~", "aroused", "turned on", "nsfw"]},
    # ----------------------------------------------------------------- illicit -------------------
    {"id": "illicit.drug_mention", "scores": {"illicit": 0.35}, "patterns": ["{drug_hard}"]},
    {"id": "illicit.drug_trade", "scores": {"illicit": 0.8},
     "patterns": ["{acquire} {drug}", "{acquire} some {drug}", "{drug} for sale",
                  "{drug} dealer", "selling {drug}", "{drug} plug"]},
    {"id": "illicit.howto", "scores": {"illicit": 0.85},
     "patterns": ["{howto} {illicit_act}"]},
    {"id": "illicit.weapons", "scores": {"illicit": 0.6, "violence": 0.5},
     "patterns": ["pipe bomb", "nail bomb", "molotov cocktail", "ied=", "homemade explosive~",
                  "ghost gun", "untraceable gun", "hire a hitman", "hitman for hire",
                  "contract killer", "3d printed gun", "silencer for sale"]},
    {"id": "illicit.crime_terms", "scores": {"illicit": 0.5},
     "patterns": ["money laundering", "counterfeit money|bills|cash|notes", "fake passport",
                  "fake id", "forged documents", "credit card dumps", "cvv dumps", "fullz",
                  "stolen credit card~", "darknet market", "dark web market",
                  "human trafficking", "drug dealer", "drug trafficking", "ransomware",
                  "child trafficking", "identity theft", "insider trading", "tax evasion"]},
]

# Phrases cut out before matching: everyday or technical senses of violent/sexual/drug words.
BENIGN: list[str] = [
    # computing
    "kill the|this|that|a|my|your|our|all|any|every? process|processes|task|tasks|job|jobs|pid|"
    "server|servers|session|sessions|program|app|application|thread|threads|container|"
    "containers|pod|pods|daemon|service|command|switch|signal|tab|tabs|window|query|queries|"
    "connection|connections|engine|worker|workers|instance|instances|build|batch|script|loop",
    "kill the|a|all|any? child process|processes",
    "kill 9", "kill 15", "killall", "kill switch", "kill signal", "kill chain", "pkill", "sigkill",
    "kill command", "killed the|a process|job|task", "oom killer", "oom killed",
    "execute the|a|this|that? script|command|query|program|code|function|task|job|plan|order|"
    "trade|statement|test|tests|build|migration",
    "attack surface", "attack vector", "attack vectors", "brute force attack", "dictionary attack",
    "timing attack", "replay attack", "ddos protection|mitigation", "smoke test", "smoke tests",
    "hack together", "hacked together", "life hack", "life hacks", "hackathon", "hackers news",
    "abort the|a? build|job|task|mission", "crash the|a? server|app", "bomb out",
    "blow up my|your|his|her phone", "blew up my|your phone", "blowing up my|your phone",
    "fork bomb", "zip bomb", "logic bomb",
    # everyday idiom
    "kill|destroy|crush|murder|smoke|wreck|beat|whoop|own you|u|him|her|them|yall|everyone at|in {game}",
    "could|would kill for", "kill for a|an|some",
    "kill time", "killing time", "kill two birds", "killer app", "killer apps", "killer feature",
    "killer features", "killer deal", "killer whale", "killer whales", "killer workout",
    "killer view", "killer views", "killer look", "killer smile", "killer heels", "killer queen",
    "killer instinct", "killed it", "killing it", "kill it", "you killed it", "kill the mood",
    "kill the lights", "kill the engine", "kill the music", "kill the noise", "dressed to kill",
    "to die for", "die hard", "diehard", "die laughing", "dying laughing", "dying of laughter",
    "died laughing", "i nearly died", "im dying", "killing me softly", "this is killing me",
    "my feet are killing me", "my back is killing me", "kill me now",
    "shoot (a|an|the|some|me a|me an|me some|us a|them a|him a|her a|you a|u a)? "
    "photo|photos|picture|pictures|pic|pics|video|videos|film|movie|scene|email|message|text|"
    "line|note|dm|reply|quick|invite|link",
    "photo shoot", "photoshoot", "video shoot", "film shoot", "shoot hoops", "shoot the breeze",
    "shoot for the stars|moon", "shooting star", "shooting stars", "shoot your shot", "oh shoot",
    "shoot for", "shooting for", "shooting guard", "sharp shooter", "sharpshooter",
    "shoot me an|a", "shot of espresso", "shot glass",
    "this|that|it|song|track|beat|album|record|tune|mix|playlist|recipe|game|movie slaps",
    "bath bomb", "bath bombs", "photo bomb", "photobomb", "photobombed", "da bomb",
    "is|was|its the bomb", "bombed the|my|an? test|exam|interview|audition",
    "heart attack", "heart attacks", "panic attack", "panic attacks", "anxiety attack",
    "asthma attack", "attack the problem", "attack the day", "attacking midfielder",
    "beat the|an? eggs|egg whites|egg|batter|cream|butter|mixture|record|traffic|heat|deadline|"
    "odds|clock|game|level|boss|rush|competition",
    "beat it", "beat you|me|us|them to it", "beat you|me at", "beats me", "beat the drum",
    "drum beat", "beat drop", "heartbeat",
    "hit me|you|u|us up", "hit the gym|road|sack|hay|button|books|spot|nail|jackpot|ground|"
    "brakes|snooze|target|mark|shower|bed|town|stage|deadline|wall",
    "hit you|me with the|a|some? link|details|facts|update|info",
    "punch line", "punchline", "fruit punch", "punch card", "kick off", "kickoff",
    "kick the can", "kick back", "kicked back", "break a leg", "break the ice", "break the news",
    "take a stab at", "have a stab at", "stab in the dark", "murder mystery",
    "murder mysteries", "murder of crows", "murder she wrote", "choke point", "chokepoint",
    "smash hit", "smash burger", "smashed it", "break your|ur heart", "strangler fig",
    "slaughter the competition", "fire the event|request|webhook|alarm",
    "end you|your subscription", "destroy the|this|that? object|instance|session|cluster",
    "poison pill", "cache poisoning", "food poisoning", "gut feeling", "gut instinct",
    "gut health", "drown out", "drowning in work|emails|paperwork",
    "bury the lede", "bury the hatchet", "run over budget|time", "ran over time",
    "jump you|u to|into", "jump on a call",
    # sexual-looking words in ordinary use
    "cum laude", "magna cum laude", "summa cum laude", "sex education", "sex ed",
    "anal retentive", "pussy willow", "pussycat", "pussy cat", "cocker spaniel", "moby dick",
    "naked eye", "naked truth", "nude color|colour|lipstick|heels|shade|tones", "breast cancer",
    "cock tail", "stock cock", "sex chromosome", "sex chromosomes", "opposite sex", "sex ratio",
    "same sex marriage", "sex and gender",
    # drugs / crime words in ordinary use
    "weed the garden", "weed out", "weeding", "weed killer", "crack the code", "crack a joke",
    "crack an egg", "crack open", "crack the case", "crack a smile", "crack down", "crackdown",
    "steal the show", "steal a glance", "steal a base", "steal the spotlight", "steal my heart",
    "steal your heart", "coke zero", "diet coke", "coca cola", "make some coffee",
    "deal with", "make money", "card game", "card games", "score a goal|goals|points|touchdown",
    # self-harm words in support contexts
    "suicide prevention", "suicide hotline", "suicide lifeline", "suicide crisis line",
    "suicide awareness", "suicide squad", "suicide doors", "suicide prevention lifeline",
    "cutting board", "cutting edge", "cutting corners", "cutting costs", "cutting back",
    "hair cutting", "cookie cutting", "cutting the cake|grass|hedge|lawn",
    # slur-like strings with ordinary meanings
    "chink in the|his|her|their armor|armour", "fag end", "kick you|u|him|her|them out", "kicked you|u|him|her|them out",
]
