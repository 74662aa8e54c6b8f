"""Crisis rules in nine languages: suicidal ideation, self-harm, someone else at risk, acute medical emergencies.

The expressions run over the normalized text (:mod:`luma.guard.text`) and look for the person's
own intent, plan or means ("I want to kill myself", "quiero quitarme la vida", "ich habe mich
geritzt") or an emergency happening now ("he isn't breathing", "j'ai pris 30 comprimés"), not for
words: news, novels, statistics and essays about suicide, questions about symptoms, past and
minor injuries do not match. :data:`HYPERBOLE` recognises figures of speech ("this traffic is
killing me", "me muero de hambre", "I could die of embarrassment", "this exam will be the death of
me"); they veto the learned head, never a rule.
"""

from __future__ import annotations

import re
from functools import lru_cache

from luma.guard.text import arabic_form, normalize

_G = r"[^.!?\n]{0,30}?"  # a short gap inside one sentence


def _both(a: str, b: str, gap: str = _G) -> str:
    """``a`` then ``b`` or ``b`` then ``a``, in one sentence."""
    return f"(?:{a}){gap}(?:{b})|(?:{b}){gap}(?:{a})"


_WIDE = r"[^.!?\n]{0,60}?"
_HEIGHT = (
    r"\b(?:roof|rooftop|bridge|ledge|balcony|cliff|window|toit|pont|balcon|fenetre|falaise|azotea|tejado|puente|"
    r"balcon|ventana|acantilado|telhado|ponte|varanda|janela|dach|brucke|balkon|fenster|klippe|tetto|ponte|balcone|"
    r"finestra|acoperis|pod|balcon|fereastra|dachu|moscie|mostu|balkonie|oknie|parapecie)\b|السطح|الجسر|الشرفه|النافذه"
)
_JUMP = (
    r"\b(?:jump|jumping|sauter|me jeter|saltar|tirarme|salte|pular|atirar-me|me atirar|springen|springe|"
    r"saltare|buttarmi|salto|sar|sa sar|ma arunc|skoczyc|skocze|rzucic sie)\b|القفز|اقفز|ارمي نفسي"
)
_ROPE = r"\b(?:rope|noose|corde|cuerda|soga|corda|seil|strick|funie|funia|streang|sznur|petle)\b|الحبل|حبل"
_READY = (
    r"\b(?:ready|prepared|tied|prete|preparee|prepare|preparada|preparado|lista|bereit|vorbereitet|preparat[ao]?|"
    r"pregatit\w*|przygotowan\w*|przygotowal\w*)\b|جهزت|جاهز"
)
_WRISTS = (
    r"\b(?:wrists?|forearms?|arms|thighs|poignets|avant-bras|cuisses|munecas|antebrazos|pulsos|antebracos|coxas|"
    r"handgelenke?|unterarme?|oberschenkel|polsi|avambracci|cosce|incheieturile|antebratele|coapsele|nadgarstki|"
    r"przedramiona|uda)\b|معصمي|ذراعي|فخذي"
)
_SCRATCH = (
    r"\b(?:scratch\w*|cut\w*|carv\w*|griffe|scarifie|coupe|arano|rasguno|corto|arranho|corto|kratze|ritze|schneide|"
    r"graffio|taglio|zgarii|tai|drapie|tne|rozcinam)\b|اخدش|اجرح"
)
_BLEED = (
    r"\buntil (?:they |it )?bleed|\bjusqu'au sang\b|\bhasta (?:sangrar|que sangran)|\bate sangrar\b"
    r"|\bbis sie bluten\b|\bbis es blutet\b|\bfino a farli sanguinare\b|\bfino al sangue\b|\bpana sangereaza\b"
    r"|\bdo krwi\b|حتي ينزف"
)
_NOT_EXIST = (
    r"\b(?:not|stop|cease to|no longer) exist(?:ing)?\b|\bne plus exister\b|\bdejar de existir\b|"
    r"\bdeixar de existir\b|\bnicht mehr (?:existieren|da sein)\b|\bsmettere di esistere\b|\bsa nu mai exist\b|"
    r"\bprzestac istniec\b|اتوقف عن الوجود"
)
_NOT_WORTH = (
    r"\b(?:life|living|it) (?:is|isn't|is not|'s not|no longer|not) (?:\w+ )?worth (?:living|it)\b"
    r"|\bla vie ne vaut (?:plus|pas) la peine\b|\bla vida (?:ya )?no (?:merece|vale) la pena\b"
    r"|\ba vida (?:ja )?nao vale a pena\b|\bleben lohnt sich nicht(?: mehr)?\b|\bla vita non vale (?:piu )?la pena\b"
    r"|\bviata nu (?:mai )?merita (?:sa fie )?traita\b|\bzycie nie jest (?:juz )?warte\b|الحياه (?:لم تعد|لا) تستحق"
)
_TRACKS = (
    r"\b(?:train tracks|railway tracks|railway line|rails du train|voie ferree|vias del tren|via del tren|"
    r"linha do comboio|linha do trem|trilhos do trem|bahngleisen|gleisen|binari del treno|sinele de tren|"
    r"torach kolejowych|torach)\b|سكه القطار"
)
_NOW = (
    r"\b(?:now|right now|en ce moment|maintenant|ahora|ahora mismo|agora|agora mesmo|gerade|jetzt|in questo momento|"
    r"adesso|acum|chiar acum|teraz)\b|الان"
)
_ON_PURPOSE = (
    r"\b(?:on purpose|deliberately|intentionally|to cope|expres|volontairement|a proposito|de proposito|adrede|"
    r"absichtlich|mit absicht|apposta|di proposito|intentionat|dinadins|celowo|specjalnie)\b|عمدا|عن قصد"
)
_HARM_VERBS = (
    r"\b(?:cut|cutting|burn|burned|burnt|burning|hit|hitting|scratch\w*|hurt|hurting|harm|coupe|brule|frappe|blesse|"
    r"fais du mal|scarifie|corto|corte|quemo|queme|golpeo|hago dano|lastimo|cortei|queimo|queimei|machuco|"
    r"schneide|verbrenne|verletze|ritze|schlage|taglio|brucio|faccio male|ferisco|tai|ard|lovesc|ranesc|fac rau|"
    r"tne|pale|rani\w*|krzywde|bije)\b|اوذي|اجرح|احرق|اضرب"
)

_SUICIDE = (
    # en
    r"\b(?:kill|killing|hang|hanging|shoot|shooting|drown|drowning) myself\b(?! (?:laughing|at work|at the gym"
    r"|to finish|"
    r"working|over (?:this|that|it)))"
    r"|\b(?:end|ending|take|taking) (?:my|my own) life\b|\bend (?:it|things|everything) (?:all|for good|tonight|now)\b"
    r"|\bend it all\b|\bcommit(?:ting)? suicide\b(?<!how many people commit suicide)|\bsuicidal\b|\bsuicide note\b"
    r"|\b(?:want|wanna|going|plan(?:ning)?|ready|decided|wish|trying) to (?:die|be dead|disappear forever|not exist)\b"
    r"(?! (?:of|from|laughing|for|to see|to know|watching))"
    r"|\bwish (?:i was|i were|i could be) dead\b|\bbetter off (?:dead|without me)\b|\bwithout me\b"
    r"[^.!?\n]{0,20}\bbetter\b"
    r"|\b(?:don't|do not|dont|no longer) (?:want|wish) to (?:live|be alive|exist|wake up|go on)\b"
    r"|\bno (?:reason|point) (?:in |to )?(?:living|live|go(?:ing)? on|keep(?:ing)? (?:going|living))\b"
    r"|\b(?:sleep|go to sleep) and never wake up\b|\bnever wake up again\b"
    r"|\bgoodbye (?:letter|note)\b|\b(?:how many|how much)\b" + _G + r"\b(?:to die|would it take to die|to kill "
    r"myself|to end (?:it|my life)|to overdose)\b"
    r"|\b(?:most )?(?:painless|easiest|quickest|fastest|surest|best) way to (?:die|kill myself|end my life|commit "
    r"suicide|end it)\b"
    r"|\b(?:jump|jumping) (?:off|from|in front of)\b" + _G + r"\b(?:bridge|roof|building|balcony|cliff|train|window)\b"
    r"|\b(?:rope|noose)\b" + _G + r"\b(?:ready|prepared|tied)\b"
    r"|\b(?:stockpil|hoard|sav)\w* (?:up )?(?:my )?(?:pills|meds|medication|tablets|antidepressants)\b"
    r"|\btried to (?:kill myself|end my life|commit suicide)\b|\bi (?:attempted|have attempted) suicide\b"
    r"|\bcan't go on (?:anymore|any longer)\b|\b(?:the )?pain to stop (?:forever|for good|permanently)\b"
    r"|\bdisappear(?:ed)? (?:for good|forever)\b|\bthinking (?:about|of) (?:suicide|ending it|ending my life)\b"
    r"|\b(?:planning|plan|going|want|ready|decided) to end (?:it|things|everything|my life)\b"
    r"|\b(?:would|could|will) kill me if i\b|\blethal (?:dose|amount)\b|\bdose (?:letale|mortelle)\b"
    r"|\bdosis letal\b|\bdose letal\b|\btodliche dosis\b|\bdoza letala\b|\bdawk\w* smierteln\w*\b"
    r"|جرعه (?:قاتله|مميته)"
    r"|\b(?:no|any|see no|don't see (?:a|any)) (?:reason|point|sense) (?:in |to )?(?:keep )?(?:living|live|"
    r"go(?:ing)? on|being alive)\b"
    r"|\b(?:going to|gonna|will|i'll|about to)\b[^.!?\n]{0,20}\b(?:take|swallow) all (?:of )?my (?:pills|tablets|"
    r"meds|medication)\b|\b(?:take|swallow) all (?:of )?my (?:pills|tablets|meds|medication) (?:tonight|at once|"
    r"in one go|now)\b"
    r"|\b(?:nehme|schlucke) (?:ich )?alle (?:meine )?tabletten\b|\bje vais (?:prendre|avaler) tou\w* mes\b"
    r"|"
    + _both(_HEIGHT, _JUMP, _WIDE)
    + r"|"
    + _both(_ROPE, _READY, _WIDE)
    + r"|"
    + _both(_TRACKS, _NOW, _WIDE)
    + r"|"
    + _NOT_EXIST
    + r"|"
    + _NOT_WORTH
    + r"|\bme quito la vida\b|\b(?:metto|mettere|porre|pongo) fine alla (?:mia )?vita\b|\bcapat vietii\b"
    + r"|\bskoncz\w* ze (?:swoim )?zyciem\b|\b(?:mets|met|mettrai) fin a (?:ma vie|mes jours)\b"
    # fr
    r"|\bme (?:suicider|tuer|pendre|flinguer|foutre en l'air|jeter (?:du|d'un|par|sous))\b(?<!va me tuer)"
    r"(?<!vont me tuer)(?<!ca me tuer)"
    r"|\bje (?:vais|veux|voudrais|pense a|compte) (?:\w+ ){0,2}(?:me tuer|mourir)\b|\benvie de (?:mourir|me tuer)\b"
    r"|\b(?:mettre|mette) fin a (?:mes jours|ma vie)\b|\ben finir\b(?! avec (?:ce|cette|le|la|les) (?:dossier|travail|"
    r"projet))|\bne (?:veux|veut) plus vivre\b|\bplus envie de vivre\b|\bidees (?:suicidaires|noires)\b"
    r"|\bpensees suicidaires\b|\btentative de suicide\b|\blettre d'adieu\b|\bmieux sans moi\b"
    r"|\bsauter (?:du|d'un|de la|par la)\b" + _G + r"\b(?:pont|toit|fenetre|balcon|immeuble|falaise)\b"
    r"|\b(?:la|une) corde\b" + _G + r"\b(?:prete|preparee)\b|\bprepare une corde\b"
    r"|\bavaler (?:toutes? )?(?:mes|les) (?:pilules|cachets|comprimes|medicaments)\b"
    r"|\bcombien de\b" + _G + r"\b(?:pour mourir|faut-il pour mourir|pour en finir)\b"
    r"|\b(?:facon|maniere) (?:la moins douloureuse|indolore|de se tuer|de mourir)\b"
    r"|\bne (?:jamais|plus jamais) (?:me )?reveiller\b|\b(?:plus de raison|ne sert (?:plus )?a rien) de vivre\b"
    r"|\baccumule (?:mes|des) (?:antidepresseurs|medicaments|cachets|comprimes)\b"
    r"|\bla douleur s'arrete pour toujours\b|\bdisparaitre pour toujours\b"
    # es
    r"|\b(?:suicidarme|matarme|quitarme la vida|tirarme (?:del|de un|de una|por la|a las vias))\b"
    r"|\b(?:quiero|voy a|pienso) (?:\w+ ){0,2}(?:morirme|morir|suicidarme)\b(?! de)"
    r"|\bganas de (?:morirme|morir|matarme)\b(?! de)|\bacabar con (?:todo|mi vida)\b"
    r"|\bno quiero (?:seguir )?vivir\b|\bya no quiero vivir\b|\b(?:pensamientos|ideas) suicidas\b"
    r"|\b(?:intente|he intentado) (?:suicidarme|matarme|quitarme la vida)\b|\bintento de suicidio\b"
    r"|\bcarta de despedida\b|\bmejor sin mi\b|\bcuerda\b" + _G + r"\b(?:preparada|lista)\b"
    r"|\btomar(?:me)? todas (?:mis|las) (?:pastillas|pildoras)\b|\bcuant[oa]s\b" + _G + r"\b(?:para morir|hacen "
    r"falta para morir)\b|\bforma (?:menos dolorosa|indolora) de (?:matarse|morir|suicidarse)\b"
    r"|\bno despertar(?:me)? nunca\b|\bsentido seguir viviendo\b|\bguardando (?:mis|las) (?:antidepresivos|pastillas)\b"
    r"|\bel dolor se acabe para siempre\b|\bdesaparecer para siempre\b"
    # pt
    r"|\b(?:quero|vou|vontade de|penso em|pensar em|decidi|tentei|queria) (?:me matar|matar-me|me suicidar|"
    r"suicidar-me)\b|\bsuicidar-me\b|\btirar a (?:minha )?(?:propria )?vida\b|\b(?:atirar-me|jogar-me) d[aeo]\b"
    r"|\b(?:por|pôr) fim a (?:minha|à minha) vida\b|\bacabar com (?:tudo|a minha vida)\b"
    r"|\b(?:quero|vontade de) morrer\b(?! de)|\b(?:nao|ja nao) quero (?:mais )?viver\b"
    r"|\b(?:pensamentos|ideias) suicidas\b|\btentei (?:suicidar-me|me matar|me suicidar|matar-me)\b"
    r"|\btentativa de suicidio\b|\bmelhor sem mim\b|\bcorda\b" + _G + r"\bpreparada\b"
    r"|\btomar todos os comprimidos\b|\bquantos\b" + _G + r"\b(?:para morrer|sao precisos para morrer)\b"
    r"|\bforma menos dolorosa de (?:se )?(?:matar|suicidar|morrer)\b|\bnunca mais acordar\b"
    r"|\bsentido continuar a viver\b|\bjuntar os antidepressivos\b|\bdor acabe para sempre\b"
    r"|\bpular da ponte\b|\bdesaparecer para sempre\b"
    # de
    r"|\bmich (?:\w+ ){0,3}(?:umbringen|umzubringen|toten|zu toten|erhangen|erschiessen|vor den zug werfen)\b"
    r"|\bmir das leben (?:zu )?nehmen\b|\bsuizidal\b"
    r"|\b(?:will|mochte|werde|wunschte) (?:\w+ ){0,2}sterben\b|\bnicht mehr leben\b"
    r"|\b(?:schluss machen|allem ein ende (?:setzen|machen)|meinem leben ein ende)\b|\bmein leben (?:zu )?beenden\b"
    r"|\b(?:suizid|selbstmord)gedanken\b|\bselbstmord (?:begehen|zu begehen)\b|\babschiedsbrief\b"
    r"|\bohne mich besser dran\b|\bbesser dran ohne mich\b"
    r"|\b(?:von der|vom) (?:brucke|dach|balkon|hochhaus)\b" + _G + r"\bspringen\b"
    r"|\bseil\b" + _G + r"\bbereit\b|\balle (?:meine )?tabletten (?:nehmen|schlucken)\b"
    r"|\bwie viele\b" + _G + r"\bum zu sterben\b|\bschmerzlos\w* art\b|\bnie wieder aufwachen\b"
    r"|\bkeinen sinn mehr\b" + _G + r"\bleben\b|\bantidepressiva\b" + _G + r"\b(?:sammeln|sammle|gesammelt)\b"
    r"|\bsammle meine (?:antidepressiva|tabletten)\b|\bschmerz fur immer aufhort\b"
    # it
    r"|\b(?:uccidermi|ammazzarmi|suicidarmi|togliermi la vita|farla finita|buttarmi (?:dal|da un|dalla|sotto))\b"
    r"|\b(?:voglia di|voglio) morire\b(?! di| dal)|\bnon voglio piu vivere\b|\bpensieri suicid\w*\b"
    r"|\btentato il suicidio\b|\blettera d'addio\b|\bmeglio senza di me\b|\bcorda\b" + _G + r"\bpreparat\w*\b"
    r"|\bprendere tutte le (?:mie )?(?:pastiglie|pillole|compresse)\b|\bprendo tutte le mie pastiglie\b"
    r"|\bquant\w+\b" + _G + r"\b(?:per morire|servono per morire)\b|\bmodo meno doloroso\b"
    r"|\bnon svegliarmi piu\b|\bsenso vivere\b|\bantidepressivi\b" + _G + r"\b(?:da parte|tutti insieme)\b"
    r"|\bdolore finisca per sempre\b"
    # ro
    r"|\b(?:sa ma sinucid|ma sinucid|ma omor|sa ma omor|sa-mi iau viata|imi iau viata|mi-as lua viata)\w*\b"
    r"(?<!ma omoara)|\bcapat zilelor\b|\bvreau sa mor\b(?! de)|\bnu mai vreau sa traiesc\b"
    r"|\bganduri (?:de sinucidere|suicidare)\b|\bam incercat sa ma sinucid\b|\bscrisoare de adio\b"
    r"|\bmai bine fara mine\b|\bsa ma arunc\b|\bfunia\b" + _G + r"\bpregatit\w*\b|\biau toate pastilele\b"
    r"|\bcate\b" + _G + r"\bca sa mori\b|\bcel mai putin dureros mod\b|\bsa nu ma mai trezesc\b"
    r"|\bniciun rost sa (?:mai )?traiesc\b|\bstrang antidepresivele\b|\bdurerea sa se termine pentru totdeauna\b"
    r"|\bsa termin cu tot\b"
    # pl
    r"|\b(?:zabic sie|sie (?:\w+ ){0,2}zabic|odebrac sobie zycie|odebraniu sobie zycia|popelnic samobojstwo|"
    r"skonczyc ze soba)\b"
    r"|\bchce umrzec\b|\bnie chce (?:juz )?zyc\b|\bmysli samobojcze\b|\bprobowal\w* sie zabic\b"
    r"|\blist pozegnalny\b|\blepiej beze mnie\b|\bskoczyc z\b" + _G + r"\b(?:mostu|dachu|balkonu|okna|wiezowca)\b"
    r"|\bsznur\b|\bwezme wszystkie tabletki\b|\bile\b" + _G + r"\bzeby umrzec\b|\bnajmniej bolesny sposob\b"
    r"|\bnigdy sie nie obudzic\b|\bnie ma sensu (?:dalej )?zyc\b|\bskonczyc z tym wszystkim\b"
    r"|\bz tym wszystkim skonczyc\b"
    r"|\bantydepresanty\b" + _G + r"\b(?:wszystkie naraz|wziac je wszystkie)\b|\bbol skonczyl sie na zawsze\b"
    # ar
    r"|اقتل نفسي|(?:اريد|افكر في|ساقوم ب|قررت)\s?(?:ال)?انتحار|\bانتحر\b|انهي حياتي|انهاء حياتي|انهي كل شيء"
    r"|اريد ان اموت|اريد الموت|لم اعد اريد العيش|لا اريد ان اعيش|افكار انتحاريه|حاولت الانتحار|حاولت قتل نفسي"
    r"|رساله وداع|افضل حالا من دوني|افضل بدوني|القفز من|جهزت الحبل|ابتلع كل (?:حبوبي|الحبوب)|تكفي للموت"
    r"|اقل طريقه مؤلمه|لا استيقظ ابدا|لا معني للاستمرار|لا معني للحياه|اجمع مضادات الاكتئاب"
    r"|يتوقف الالم الي الابد"
)

_SELF_HARM = (
    r"\b(?:cut|cutting|burn|burning|burned|burnt|hurt|hurting|harm|harming|scratch|scratching|punish|punishing)"
    r" myself\b(?! (?:shaving|cooking|by accident|accidentally|while|on (?:a|the) |playing|at (?:work|the gym)|"
    r"skiing|running|lifting|in the kitchen|with a knife while))"
    r"|\bself[- ]?harm(?:ing|ed)?\b(?! (?:prevention|awareness|research|statistics|essay))"
    r"|\bcut (?:my|into my) (?:wrists?|arms?|legs?|thighs?|skin)\b|\b(?:urge|urges|want|need) to (?:cut|hurt|harm)\b"
    r"(?! (?:my|the|a|an|some|his|her|their|our|your|down|back|it|this|that|costs?|hair|nails|grass|wood|corners)\b)"
    r"|\bme (?:scarifier|mutiler|couper les (?:bras|veines|poignets)|faire du mal|"
    r"blesser expres)\b|\bje me (?:suis )?(?:encore )?(?:scarifie\w*|mutile\w*|fais du mal)\b"
    r"|\bje me (?:suis )?(?:encore )?coupe\w* (?:les (?:bras|poignets|veines|cuisses)|volontairement|expres)\b"
    r"|\bje m'automutile\b|\benvie de me (?:couper|scarifier|mutiler|faire du mal)\b"
    r"|\b(?:autolesionarme|me autolesiono|autolesionandome|cortarme (?:los brazos|las venas|las munecas))\b"
    r"|\bme (?:he )?(?:vuelto a )?cortar?\b(?! el pelo| las unas)|\bme corto\b(?! el pelo| las unas)"
    r"|\b(?:hacerme|me hago) dano\b"
    r"|\b(?:je m'|m'|me )automutil\w*|\bautomutilar-me\b|\b(?:cortar-me|me cortar|cortei-me|voltei a cortar-me)\b"
    r"|\b(?:me machuco|machucar-me|me machucar) (?:de proposito|de proposito)?"
    r"|\bmich (?:selbst )?(?:zu )?(?:verletzen|ritzen|schneiden)\b|\b(?:ritze|ritzte) mich\b|\bgeritzt\b"
    r"|\bverletze mich\b|\bselbstverletz\w*\b(?<!pravention von selbstverletzung)(?! pravention)"
    r"|\b(?:autolesionarmi|mi autolesiono)\b|\bmi sono (?:di nuovo )?tagliat[oa]\b(?! (?:un|il|la) (?:dito|mano)"
    r"| cucinando| per sbaglio| (?:il |un |al )?(?:pollice|polpastrello|labbro|mento))|"
    r"\btagliarmi\b(?! (?:i capelli|la barba|le unghie|i baffi|la frangia))"
    r"|\b(?:farmi|mi faccio) del male\b"
    r"|\bm-am (?:taiat|ranit|ars)\b(?! la deget| in deget)|\bsa ma tai\b|\bma autovatam\b|\bsa ma autovatam\b"
    r"|\bimi fac rau\b"
    r"|\b(?:pocie\w* sie|pocielam|pocialem|tne sie|ciac sie|okalecz\w* sie|sie okalecz\w*|samookaleczam|"
    r"robie sobie krzywde)\b"
    r"|جرحت نفسي|اجرح نفسي|اؤذي نفسي|ايذاء نفسي|اذيت نفسي"
    r"|" + _both(_HARM_VERBS, _ON_PURPOSE) + r"|" + _both(_WRISTS, _SCRATCH) + r"|" + _both(_SCRATCH, _BLEED)
)

_THIRD_PARTY = (
    r"\b(?:he|she|they|my \w+|him|her)\b" + _G + r"\b(?:wants?|going|plans?|planning|threaten\w*|talks? about|said)"
    r"\b" + _G + r"\b(?:kill (?:himself|herself|themselves)|end (?:his|her|their) life|commit suicide|die)\b"
    r"|\b(?:kill|killing) (?:himself|herself|themselves) (?:tonight|now|today)\b"
    r"|\b(?:took|has taken|swallowed)\b[^.!?\n]{0,12}\b(?:a load|loads|lots|a lot|a bunch|handfuls?|all (?:her|his|"
    r"their)) of (?:pills|tablets|meds|medication)\b"
    r"|\b(?:va|allait|veut|voulait) (?:se tuer|se suicider|mettre fin a ses jours|en finir)\b"
    r"|\b(?:il|elle|qu'il|qu'elle) (?:veut|voulait|va) mourir\b(?! de)"
    r"|\b(?:se va a|quiere) (?:matar|suicidar|quitarse la vida)\b|\bva a (?:matarse|suicidarse|quitarse la vida)\b"
    r"|\bquiere (?:morir|matarse|suicidarse)\b"
    r"|\bse va (?:a )?matar\b|\bvai-se matar\b|\bvai se matar\b|\bse vai matar\b|\bquer (?:morrer|se matar)\b"
    r"|\bsich (?:heute nacht |heute |jetzt )?umbringen will\b|\bwill sich umbringen\b|\ber will sterben\b"
    r"|\bsie will sterben\b|\bsi (?:uccidera|vuole uccidere|ammazza)\b|\bvuole morire\b"
    r"|\b(?:vrea|o sa) sa se (?:sinucida|omoare)\b|\bse va (?:sinucide|omori)\b|\bvrea sa moara\b"
    r"|\bse (?:omoara|sinucide) (?:diseara|azi|acum|la noapte|in noaptea asta|maine)\b"
    r"|\bsie zabije\b|\bchce sie zabic\b"
    r"|ستقتل نفسها|سيقتل نفسه|يريد ان يموت|تريد ان تموت|يريد ان ينتحر|تريد ان تنتحر|سينتحر|ستنتحر"
)

_STROKE = r"\b(?:stroke|avc|ictus|schlaganfall|accident vascular|udar)\b|جلطه"
_STROKE_SIGN = (
    r"\b(?:arm|bras|brazo|braco|braccio|bratul|bratul|reki|reke|face|visage|cara|gesicht|faccia|fata|twarz|speak|talk|"
    r"parler|hablar|falar|sprechen|parlare|vorbi|mowic|think|crois|creo|acho|glaube|credo|cred|chyba|penso)\b"
    r"|ذراع|وجه|الكلام|اظن"
)
_CYANOSIS = _both(
    r"\b(?:lips|levres|labios|lippen|labbra|buzele|usta)\b|شفت\w*",
    r"\b(?:blue|bleues?|azules|azuis|blau|blu|vinete|albastre|sine|sinie)\b|زرق",
    r"[^.!?\n]{0,15}?",
)
_SWALLOWED = (
    r"\b(?:swallowed|took|taken|avale|pris|tragado|trague|tome|tomado|engoli|tomei|geschluckt|genommen|ingoiato|preso|"
    r"inghitit|luat|polknal\w*|wzial\w*|zazyl\w*)\b|ابتلعت|اخذت|تناولت"
)
_PACK = (
    r"\b(?:pack|packet|box|bottle|plaquette|boite|caja|frasco|caixa|packung|schachtel|flasche|scatola|confezione|"
    r"cutie|flacon|opakowanie|butelk\w*)\b|علبه|زجاجه"
)
_WHOLE = r"\b(?:whole|entire|all|entiere|toute|entera|toda|inteira|ganze|intera|tutta|intreaga|toata|cale|calo)\b|كامله"
_SLEEPING_PILLS = (
    r"\b(?:sleeping pills|somniferes|somniferos|comprimidos para dormir|schlaftabletten|sonniferi|somnifere|"
    r"tabletek nasennych|tabletki nasenne)\b|حبوب منومه|الحبوب المنومه"
)
_WHOLE_PACK = (
    _both(_SWALLOWED, _both(_PACK, _WHOLE, r"[^.!?\n]{0,12}?"), r"[^.!?\n]{0,40}?")
    + "|"
    + _both(_SWALLOWED, _SLEEPING_PILLS, r"[^.!?\n]{0,40}?")
)
_MEDICAL = (
    # any language
    _both(_STROKE, _STROKE_SIGN) + "|" + _CYANOSIS + "|" + _WHOLE_PACK + "|"
    # en
    r"\b(?:having|have|had|having had) a (?:heart attack|stroke|seizure|fit)\b(?<!had a heart attack)(?<!had a stroke)"
    r"|\bheart attack\b" + _G + r"\b(?:right now|now|i think|chest)\b"
    r"|\b(?:can't|cannot|can not|unable to|struggling to|barely) breathe\b(?! (?:through my nose|when i run))"
    r"|\b(?:isn't|is not|not|stopped|stop) breathing\b|\bturning (?:blue|purple)\b"
    r"|\b(?:throat|tongue|face) (?:is )?(?:swelling|closing)(?: up)?\b|\banaphyla\w+"
    r"|\b(?:is|he's|she's|went|lying|was found) unconscious\b|\bunconscious and\b|\bunresponsive\b"
    r"|\b(?:won't|will not|doesn't|does not|can't) (?:wake up|respond)\b|\bnot responding\b|\bcollapsed\b"
    r"|\bpassed out\b" + _G + r"\b(?:won't|not|can't)\b"
    r"|\bbleeding (?:heavily|a lot|badly|profusely|non-stop|everywhere)\b|\b(?:won't|doesn't|can't|will not) stop "
    r"bleeding\b|\bbleeding\b" + _G + r"\b(?:won't|doesn't|will not) stop\b|\blost a lot of blood\b"
    r"|\boverdos\w*\b|\btook\b"
    + _G
    + r"\b(?:\d{2,}|all (?:my|the|of my)|too many|a whole (?:bottle|box|pack))\b"
    + _G
    + r"\b(?:pills|tablets|paracetamol|ibuprofen|painkillers|sleeping pills|medication|meds)\b"
    r"|\b(?:swallowed|drank|ingested|ate|drunk)\b" + _G + r"\b(?:bleach|poison|detergent|batter(?:y|ies)|"
    r"antifreeze|drain cleaner|washing (?:tablets|pods)|rat poison|pesticide)\b"
    r"|\bseizure\b" + _G + r"\b(?:minutes|won't stop|now|for)\b|\b(?:is|he's|she's) (?:seizing|convulsing|fitting)\b"
    r"|\b(?:crushing|severe|terrible|intense|unbearable|excruciating) (?:chest pain|pain in (?:my|his|her) chest)\b"
    r"|\bchest (?:pain|hurts)\b" + _G + r"\b(?:left arm|jaw|spreading|radiating|sweating|can't breathe)\b"
    r"|\b(?:face|mouth) (?:is )?(?:drooping|droopy|twisted)\b|\bslurr\w* (?:speech|words)\b" + _G + r"\bsudden\w*"
    r"|\bcall (?:an ambulance|911|999|112|000)\b|\bneed an ambulance\b"
    r"|\bchoking\b(?! (?:on my words|up))"
    # fr
    r"|\b(?:crise cardiaque|infarctus)\b" + _G + r"\b(?:je fais|je crois|il fait|elle fait|en train|maintenant)\b"
    r"|\b(?:je fais|je crois que je fais|il fait|elle fait) (?:une crise cardiaque|un infarctus|un avc|une crise)\b"
    r"|\bne respire (?:plus|pas)\b|\bn'arrive (?:plus|pas) a respirer\b|\bje (?:ne )?(?:peux|peut) plus respirer\b"
    r"|\b(?:s'est|est) (?:effondre|evanoui)e?\b|\binconscient\w*\b|\bperdu connaissance\b"
    r"|\b(?:avale|bu)\b" + _G + r"\b(?:eau de javel|javel|poison|piles?|toute la boite|detergent|produit menager)\b"
    r"|\bpris \d{2,} (?:comprimes|cachets|pilules|gelules)\b|\boverdose\b|\bgorge (?:qui )?gonfle\b"
    r"|\bchoc anaphylactique\b|\bbouche de travers\b|\bvisage (?:qui )?(?:tombe|s'affaisse)\b"
    r"|\bsaigne (?:enormement|beaucoup|abondamment|sans arret)\b|\bne s'arrete pas de saigner\b"
    r"|\bhemorragie\b(?! (?:nasal\w*|du nez|nazala|z nosa))"
    r"|\b(?:devient|devenu) (?:bleu|violet)\b|\bcrise d'epilepsie depuis\b|\bconvulse\w*\b"
    r"|\bdouleur (?:ecrasante|intense|terrible|violente|insupportable) (?:dans|a) la poitrine\b"
    r"|\bappele[rz]? (?:le samu|le 15|le 112|une ambulance|les pompiers)\b"
    # es
    r"|\b(?:infarto|ataque al corazon|ataque cardiaco)\b" + _G + r"\b(?:me esta dando|creo|le esta dando|ahora)\b"
    r"|\b(?:me esta dando|le esta dando|creo que tengo) (?:un infarto|un ictus|un ataque)\b"
    r"|\bno (?:puede|puedo|puedes) respirar\b|\bno respira\b|\bse (?:ha )?(?:desplomado|desmayado|desmayo)\b"
    r"|\binconsciente\b|\bperdio el conocimiento\b"
    r"|\b(?:bebido|tragado|bebio|trago|tomado)\b" + _G + r"\b(?:lejia|veneno|pilas|detergente|matarratas)\b"
    r"|\b(?:tome|me tome|tomo|se tomo) \d{2,} (?:pastillas|comprimidos|capsulas)\b|\bsobredosis\b"
    r"|\bse me (?:hincha|cierra) la garganta\b|\banafila\w+|\bcara torcida\b|\bse le ha torcido la cara\b"
    r"|\bsangrando (?:muchisimo|mucho|sin parar)\b|\bno (?:para|deja) de sangrar\b"
    r"|\bhemorragia\b(?! (?:nasal\w*|du nez|nazala|z nosa))"
    r"|\bponiendo (?:azul|morado)\b|\bconvulsion\w*\b"
    r"|\bdolor (?:muy fuerte|fortisimo|intenso|aplastante|terrible|insoportable) en el pecho\b"
    r"|\bllam(?:a|en|ad) (?:a una ambulancia|al 112|al 911|a emergencias)\b"
    # pt
    r"|"
    + _both(r"\b(?:ataque cardiaco|enfarte|infarto|avc)\b", r"\b(?:estou a ter|acho|estou tendo|agora)\b")
    + r"|\bnao (?:consigo|consegue) respirar\b|\bnao esta a respirar\b|\bnao (?:esta )?respira(?:ndo)?\b"
    r"|\bdesmaiou\b|\bperdeu os sentidos\b|\b(?:bebeu|engoliu|tomou)\b" + _G + r"\b(?:lixivia|veneno|pilhas|"
    r"detergente|agua sanitaria)\b|\btomei \d{2,} comprimidos\b"
    r"|\bgarganta (?:a )?inchar\b|\bcara torta\b|\ba sangrar muito\b|\bsangrando muito\b|\bnao para de sangrar\b"
    r"|\b(?:a ficar|ficando) (?:roxo|azul)\b|\bconvuls\w+\b|\bdor (?:muito forte|fortissima|intensa"
    r"|esmagadora) no peito\b"
    r"|\bcham(?:a|e|em) (?:uma ambulancia|o 112|o 192|o inem|o samu)\b"
    # de
    r"|\bherzinfarkt\b" + _G + r"\b(?:ich habe|glaube|hat|gerade|jetzt)\b|\b(?:ich habe|er hat|sie hat) einen "
    r"(?:herzinfarkt|schlaganfall)\b"
    r"|\b(?:bekomme|kriege|kriegt|bekommt) keine luft\b|\batmet nicht(?: mehr)?\b|\bzusammengebrochen\b"
    r"|\bbewusstlos\b|\bohnmachtig\b(?! vor)|\b(?:chlorreiniger|bleiche|gift|batterie)\w*\b" + _G + r"\b(?:getrunken|"
    r"verschluckt|geschluckt)\b|\b\d{2,} (?:tabletten|paracetamol|schlaftabletten)\b" + _G + r"\b(?:genommen|"
    r"geschluckt)\b|\buberdosis\b|\bhals schwillt\b|\bgesicht\b[^.!?\n]{0,30}\bhangt\b|\bmundwinkel hangt\b|"
    + _both(r"\bschlaganfall\b", r"\b(?:glaube|gerade|jetzt)\b")
    + r"|\bblute (?:sehr )?stark\b|\bhort nicht auf zu bluten\b|\bstarke blutung\b|\blauft blau an\b"
    r"|\bkrampft\b|\bkrampfanfall\b" + _G + r"\bseit\b"
    r"|\b(?:starke|druckende|unertragliche|heftige)\w* brustschmerz\w*\b|\bbrustschmerz\w*\b" + _G + r"\b(?:arm|"
    r"kiefer|zieht|ausstrahl)\w*"
    r"|\b(?:notarzt|rettungswagen|krankenwagen)\b" + _G + r"\b(?:rufen|ruf|kommen)\b"
    # it
    r"|" + _both(r"\b(?:infarto|ictus)\b", r"\b(?:credo|sto avendo|adesso|penso)\b") + r"|\bnon (?:riesco"
    r"|riesce) (?:piu )?a respirare\b"
    r"|\bnon respira\b|\b(?:e )?crollat[oa]\b|\bsvenut[oa]\b|\bpriv[oa] di sensi\b|\bincoscient\w*\b"
    r"|\b(?:bevuto|ingoiato|inghiottito)\b" + _G + r"\b(?:candeggina|veleno|pile|batteria|detersivo)\b"
    r"|\bpreso \d{2,} (?:compresse|pastiglie|pillole)\b|\bgola (?:si )?gonfia\b|\bbocca storta\b"
    r"|\bsanguinando (?:tantissimo|molto)\b|\bnon smette di sanguinare\b|\bemorragia\b(?! nasale)|"
    r"\bdiventando (?:blu|viola)\b"
    r"|\bconvulsioni\b|\bdolore (?:fortissimo|intenso|schiacciante|terribile) al petto\b"
    r"|\bchiama(?:te)? (?:il 118|il 112|un'ambulanza)\b"
    # ro
    r"|\b(?:fac|face|are) infarct\b|\binfarct\b" + _G + r"\b(?:cred|acum)\b|\bnu (?:pot|poate) (?:sa )?respir\w*\b"
    r"|\bnu mai respira\b|\bs-a prabusit\b|\ba lesinat\b|\binconstient\w*\b|\bsi-a pierdut cunostinta\b"
    r"|\ba baut\b" + _G + r"\b(?:inalbitor|clor|otrava|detergent)\b|\bam luat \d{2,} (?:de )?pastile\b"
    r"|\bsupradoza\b|\bmi se umfla gatul\b|\bsoc anafilactic\b|\bgura stramba\b|\bsangerez (?:foarte )?tare\b"
    r"|\bnu se opreste sangerarea\b|\bhemoragie\b(?! nazala)|\bse (?:invineteste|face vanat)\b|\bconvulsii\b"
    r"|\bdurere (?:puternica|foarte puternica|insuportabila) in piept\b|\b(?:sunati la 112|chemati (?:salvarea|"
    r"ambulanta))\b"
    # pl
    r"|" + _both(r"\b(?:zawal|udar)\b", r"\b(?:chyba|mam|ma|teraz)\b") + r"|\bnie (?:moge|moze) oddychac\b"
    r"|\bnie oddycha\b"
    r"|\bzemdlal\w*\b|\bnieprzytomn\w*\b|\bstracil\w* przytomnosc\b|\bupadl\w* i nie\b"
    r"|\b(?:wypil\w*|polknal\w*|polknela)\b" + _G + r"\b(?:wybielacz|trucizne|domestos|baterie|baterii)\b"
    r"|\bwzial\w* \d{2,} tabletek\b|\bprzedawkowal\w*\b|\bgardlo (?:mi )?puchnie\b|\bwstrzas anafilaktyczny\b"
    r"|\bopadniet\w* kacik\b|\b(?:bardzo )?mocno krwawi\w*\b|\bkrwawienie nie ustaje\b|\bkrwotok\b|\bsinieje\b"
    r"|\bdrgawki\b" + _G + r"\bod\b|\b(?:bardzo )?siln\w*[\w, ]{0,20}\bbol w klatce\b"
    r"|\bdzwon\w* (?:na|po) (?:112|999|karetke|pogotowie)\b"
    # ar
    r"|(?:نوبه|ازمه) قلبيه|لا (?:استطيع|يستطيع|تستطيع) التنفس|لا (?:يتنفس|تتنفس)|سقط ارضا|فاقد للوعي"
    r"|فاقده للوعي|اغمي عليه|اغمي عليها|فقد الوعي|شرب\w* (?:ماده )?مبيض|شرب\w* (?:الكلور|سم)|ابتلع\w* (?:البطاريه|سم)"
    r"|اخذت \d{2,} (?:قرص|حبه)|جرعه زائده|يتورم|صدمه تحسسيه|"
    + _both(r"جلطه", r"اظن\w*|الان")
    + r"|وجه[^.!?\n]{0,15}مائل"
    r"|انزف بشده|النزيف لا يتوقف|نزيف حاد|يزرق|تشنجات|الم (?:ساحق|شديد جدا|حاد) في صدري|اتصلوا بالاسعاف"
    r"|اطلبوا الاسعاف"
)

_LAUGHTER = (
    r"\b(?:lol|lmao|rofl|(?:ha){2,}h?|(?:he){2,}|mdr|ptdr|(?:ja){2,}|(?:je){2,}|k{3,}|(?:rs){2,}|xd|(?:ah){2,}|"
    r"(?:hi){2,}|haha\w*)\b|[\U0001F602\U0001F923\U0001F606]|هه+"
)
HYPERBOLE = (
    r"\b(?:is|are|was|it's|its|they're|this \w+ is)\b[^.!?\n]{0,20}\bkilling me\b|\b\w+ (?:are|is) killing me\b"
    r"|\bdying (?:of|from|to|for) (?:hunger|laughter|laughing|embarrassment|boredom|curiosity|thirst|heat|cold|"
    r"shame|know|see|try|hear|a)\b|\b(?:could|would|nearly|almost) (?:have )?died? (?:of|from|laughing)\b"
    r"|\bdie (?:of|from) (?:embarrassment|laughter|shame|boredom)\b|\bdeath of me\b|\bdead tired\b"
    r"|\bdied laughing\b|\bkill me now\b|\bkill the (?:time|weeds|process|bugs|lights)\b|\bdying to\b"
    r"|\b(?:mourir|meurs|meurt|mort|morte|morts) (?:de|d') ?(?:faim|rire|honte|soif|chaud|froid|ennui|envie|fatigue|"
    r"peur|curiosite)\b|\b(?:va|vont) me tuer\b|\bme tuent\b|\btuer le temps\b"
    r"|\b(?:me )?muer\w* de (?:hambre|risa|sueno|verguenza|ganas|frio|calor|aburrimiento|sed|miedo)\b"
    r"|\bme (?:esta )?mata(?:ndo)?\b|\bmuerto de (?:cansancio|risa|sueno)\b|\bmatar el tiempo\b|\bacabar conmigo\b"
    r"|\b(?:morr\w*|morro|morri|morto|morta) de (?:fome|rir|vontade|sono|vergonha|cansaco|medo|tedio)\b"
    r"|\ba morrer de\b|\bmatar-me\b(?<=esta a matar-me)|\bdar cabo de mim\b|\bmatar o tempo\b"
    r"|\bsterbe vor\b|\bvor (?:scham|lachen) (?:fast )?gestorben\b|\bbringt mich (?:noch )?(?:um|ins grab)\b"
    r"|\btodmude\b|\btotgelacht\b|\bzeit totschlagen\b"
    r"|\bmuoio (?:di|dal|dalla)\b|\bmort[oa] (?:di|dal) (?:vergogna|ridere|fame|sonno)\b|\bstanc[oa] mort[oa]\b"
    r"|\bmi (?:sta uccidendo|uccidera|ammazza)\b|\bammazzare il tempo\b"
    r"|\bmor de (?:foame|ras|rusine|curiozitate|plictiseala|sete|somn)\b|\bera sa mor de\b|\bma omoara\b"
    r"|\bo sa ma omoare\b|\bmort de oboseala\b|\bam murit de ras\b|\bsa omor timpul\b"
    r"|\bumieram z (?:glodu|nudow|ciekawosci|smiechu)\b|\bumarl\w* (?:ze|z) (?:wstydu|smiechu)\b"
    r"|\bmnie (?:wykoncz\w*|zabije)\b|\bsmiertelnie zmeczon\w*\b|\bzabic czas\b"
    r"|اموت من (?:الجوع|الضحك|الفضول|الملل|العطش)|كدت اموت من|تقتلني|سيقضي علي|ميت من التعب|مت من الضحك|اقتل الوقت"
    r"|\b(?:(?:nearly|almost) (?:had|have|gave me|give me) a heart attack|j'ai failli (?:faire|avoir) (?:une crise "
    r"cardiaque|un infarctus)|casi me (?:da|dio) un infarto|quase (?:tive|me deu) um (?:ataque|enfarte|infarto)|"
    r"fast einen herzinfarkt|quasi (?:venuto|preso) un infarto|era sa fac infarct|prawie dostal\w* zawalu)\b"
    r"|كدت اصاب بنوبه قلبيه|كدت اموت"
)

# -- concepts combined within a sentence (any language) ------------------------------------------------
_PILLS = (
    r"\b(?:pills?|tablets?|meds|medications?|paracetamol\w*|ibuprof\w*|painkillers|antidepress\w*|comprim\w*|"
    r"medicament\w*|cachets?|pilules?|gelules?|pastill\w*|pildoras|medicamentos|remedios|tabletten|medikamente|"
    r"pastigli\w*|pillole|compresse|farmaci|pastile\w*|medicamente|tablet\w*|lekow|leki)\b"
    r"|حبوب|حبه|اقراص|ادويه|باراسيتامول|ايبوبروفين"
)
_ALL_OF_THEM = (
    r"\b(?:all(?!')|every one|them all|toutes?|tous|tout prendre|todas|todos|alle(?! \d)|tutte|tutti(?! i giorni)|"
    r"toate|"
    r"pe toate|wszystkie|"
    r"enough|assez|suffisamment|suficiente|suficientes|genug|abbastanza|destul|tyle)\b|كلها|كل|ما يكفي"
)
_INTENT = (
    r"\b(?:thinking (?:of|about)|going to|gonna|want to|planning|plan to|ready to|about to|decided|"
    r"pense a|pense|penser a|vais|veux|compte|prevois|pienso|voy a|quiero|planeo|estoy pensando|penso|"
    r"estou a pensar|vou|quero|ando a pensar|uberlege|werde|will|plane|habe vor|sto pensando|penso di|"
    r"voglio|ho deciso|ma gandesc|o sa|vreau|am de gand|mysle|zamierzam|chce|planuje|postanowil\w*|"
    r"to make sure|pour (?:ne pas|ne plus)|para no|para nao|um nicht|per non|ca sa nu|zeby (?:sie )?nie)\b"
    r"|افكر|ساخذ|اريد|اخطط|قررت|حتي لا"
)
_NUMBER_WORDS = (
    r"\b(?:(?<!a las )(?<!alle )(?<!at )(?<!as )(?<!um )(?<!la )(?<!o )(?<!ore )(?<!a )(?<!godz )"
    r"(?:[1-9]\d|\d{3})(?!\s*(?:h\b|:|uhr|heures?|hs\b|pm\b|am\b|o'clock|ore\b|godz|horas?\b))|ten|twenty|thirty|"
    r"forty|fifty|dozens?|a hundred|hundreds|dix|vingt|trente|quarante|"
    r"cinquante|dizaine|vingtaine|trentaine|quarantaine|douzaine|diez|veinte|treinta|cuarenta|cincuenta|docena|"
    r"dez|vinte|trinta|quarenta|cinquenta|duzia|zehn|zwanzig|dreissig|vierzig|funfzig|dutzend|dieci|venti|"
    r"trenta|quaranta|cinquanta|decina|ventina|trentina|quarantina|dozzina|zece|douazeci|treizeci|patruzeci|"
    r"cincizeci|dziesiec\w*|dwadziesc\w*|dwudziest\w*|trzydziest\w*|czterdziest\w*|piecdziesi\w*|"
    r"kilkadziesi\w*|kilkunast\w*)\b"
    r"|عشر\w*|عشرين|ثلاثين|اربعين|خمسين"
)
_TOOK = (
    r"\b(?:took|taken|swallowed|avale|pris|tome|tomado|trague|tragado|me tome|tomei|engoli|genommen|geschluckt|"
    r"preso|ingoiato|luat|am luat|inghitit|wzial\w*|polknal\w*|zazyl\w*)\b|اخذت|ابتلعت|تناولت"
)
_NOT_WAKE = (
    r"\b(?:(?:not|never) wake up(?: again)?|don't wake up|ne (?:plus |pas |jamais )(?:me )?reveiller|"
    r"no despertar(?:me)?|no volver a despertar|nao (?:voltar a )?acordar|nicht mehr aufzuwachen|nie wieder aufwachen|"
    r"non svegliarmi(?: piu)?|sa nu ma mai trezesc|(?:sie )?(?:juz )?nie obudzic)\b|لا استيقظ"
)
_NOT_HERE = (
    r"\b(?:(?:don't|do not|no longer|dont) (?:really )?(?:want|wanna) to be (?:here|around|alive)|"
    r"(?:want|wanna) to be (?:here|around|alive) any ?more|won't be (?:here|around) (?:much )?longer|"
    r"ne (?:veux|veut) plus etre (?:la|ici|en vie)|ne plus etre la|(?:ya )?no quiero estar (?:aqui|aca)|"
    r"(?:ja )?nao quero (?:estar|ficar) (?:ca|aqui)|will nicht mehr (?:da|hier) sein|nicht mehr da sein will|"
    r"non (?:voglio|vorrei|voler|volere) piu (?:esserci|stare qui)|nu mai vreau sa fiu aici|"
    r"nie chce (?:juz )?tu byc|nie chce juz byc)\b|(?:لم اعد|لا) اريد ان اكون هنا"
)
_IF_GONE = (
    r"\b(?:if i (?:was|were|am|'m)? ?(?:gone|dead|not here|not around|disappeared)|if i disappeared|"
    r"si je (?:\w+ )?(?:disparaissais|mourais|n'etais plus la)|si (?:yo )?(?:desapareciera|me muriera|no estuviera)|"
    r"se eu (?:desaparecesse|morresse|nao estivesse)|wenn ich (?:\w+ ){0,2}(?:weg|tot|nicht mehr da) ware|"
    r"se (?:io )?(?:sparissi|morissi|non ci fossi)|daca as (?:disparea|muri)|daca n-as mai fi|"
    r"gdybym (?:\w+ ){0,2}(?:zniknal|zniknela|umarl|umarla))\b|لو اختفيت|لو مت"
)
_TONIGHT = (
    r"\b(?:tonight|today|this weekend|ce soir|cette nuit|esta noche|esta noite|heute nacht|heute abend|stanotte|"
    r"stasera|diseara|la noapte|dzis w nocy|dzis wieczorem)\b|الليله"
)
_END_IT = (
    r"\b(?:i end it|end it|j'en finis|en finir|acabo con todo|acabar con todo|acabo com tudo|acabar com tudo|"
    r"mache (?:ich )?schluss(?! mit (?!allem|dem leben))|la faccio finita|farla finita|termin cu tot|"
    r"z tym (?:wszystkim )?koncze|skoncze z tym)\b|انهي كل شيء"
)
_WAY = (
    r"\b(?:way|ways|method|means|facon|maniere|moyen|methode|forma|manera|metodo|jeito|maneira|weg|art|modo|mod|"
    r"metoda|sposob)\b|طريقه|وسيله"
)
_TO_DIE = (
    r"\b(?:to die|of dying|kill myself|mourir|me tuer|se tuer|morir|matarme|matarse|morrer|me matar|matar-me|"
    r"zu sterben|sterben|mich umzubringen|morire|uccidermi|a muri|sa mori|sa ma omor|umrzec|zabic sie|"
    r"suicid\w*|samoboj\w*)\b|الموت|للموت|للانتحار|الانتحار"
)
_KILL_SELF = (
    r"\b(?:how to kill myself|mich umbringe|mich umbringen|mich tote|sa ma omor|matarme|uccidermi|ammazzarmi|"
    r"zabic sie|sie zabic|(?:comment|moyen de) me tuer|como (?:me matar|matar-me))\b|قتل نفسي"
)
_ARMS = (
    r"\b(?:arms?|wrists?|forearms?|thighs|bras|poignets|avant-bras|cuisses|brazos|munecas|antebrazos|muslos|"
    r"bracos|pulsos|coxas|arme|handgelenke?|unterarme?|oberschenkel|braccia|polsi|cosce|bratele|brate|"
    r"incheieturile|coapsele|rece|reke|nadgarstki|przedramiona|uda)\b|ذراعي|ذراعيه|معصمي|فخذي"
)
_CUT = (
    r"\b(?:cut|cutting|slashed|sliced|taillade\w*|coupe\w*|scarifie\w*|cortes|corte|cortado|cortar|cortei|"
    r"aufgeschnitten|aufschneiden|geritzt|ritze|schneide|tagliat[oa]|tagliare|taglio|taiat|tai|"
    r"pociel\w*|pocial\w*|pociac|nacial\w*|tne)\b|جرحت|اجرح|قطعت"
)
_AGAIN = (
    r"\b(?:again|last night|can't stop|keep|recommencer|recommence|encore|de nouveau|otra vez|de nuevo|volver a|"
    r"outra vez|voltar a|de novo|wieder|erneut|di nuovo|ancora|rifarlo|din nou|iar|znowu|ponownie|nie moge przestac)\b"
    r"|مجددا|مره اخري|ليله امس"
)
_SWALLOW = (
    r"\b(?:swallowed|swallow|ate|drank|drunk|avale|a avale|bu|a bu|mange|trago|tragado|se ha tragado|bebio|"
    r"se bebio|comio|se comio|engoliu|bebeu|comeu|verschluckt|getrunken|gegessen|ingoiato|inghiottito|bevuto|"
    r"mangiato|a inghitit|inghitit|a baut|a mancat|polknal\w*|polknela|wypil\w*|zjadl\w*)\b|ابتلع\w*|شرب\w*|اكل"
)
_DANGEROUS = (
    r"\b(?:button battery|battery|batteries|magnets?|bleach|detergent|pods?|pile|piles|aimants?|javel|pila|pilas|"
    r"imanes?|lejia|pilha|pilhas|imanes|lixivia|knopfbatterie|batterie|magnete?|bleiche|chlorreiniger|batteria|"
    r"candeggina|baterie|bateria|magnet|inalbitor|baterie\w*|baterii|magnes\w*|wybielacz|antifreeze|rat poison|"
    r"weedkiller|pesticide|methanol|drain cleaner|antigel|mort-aux-rats|desherbant|anticongelante|veneno para ratas|"
    r"matarratas|herbicida|raticida|veneno para ratos|frostschutz\w*|rattengift|unkrautvernichter|antigelo|"
    r"veleno per topi|topicida|diserbante|otrava pentru soareci|otrava de sobolani|erbicid|plyn do chlodnic|"
    r"trutk\w*|srodek chwastobojczy|metanol)\b|بطاريه|مغناطيس|مبيض|سائل التبريد|سم الفئران|مبيد"
)
_SPEECH_LOSS = (
    r"\b(?:can't (?:speak|talk)|cannot (?:speak|talk)|unable to speak|slurring|ne peut (?:soudain )?plus parler|"
    r"n'arrive plus a parler|no puede hablar|nao consegue falar|kann (?:plotzlich )?nicht mehr sprechen|"
    r"non riesce (?:piu )?a parlare|nu mai poate vorbi|nie moze mowic)\b|لا يستطيع الكلام|لا تستطيع الكلام"
)
_FACE_DROOP = (
    r"\b(?:face (?:is )?(?:drooping|droopy)|half (?:of )?(?:his|her|my) face|visage (?:qui )?s'affaisse|"
    r"moitie (?:de )?son visage|bouche de travers|(?:media )?cara caida|cara torcida|boca torcida|"
    r"cara descaida|metade da cara|cara torta|boca torta|gesichtshalfte|gesicht hangt|mundwinkel hangt|"
    r"viso cadente|meta (?:del )?viso|bocca storta|fata cazuta|jumatate de fata|gura stramba|"
    r"opadniet\w* (?:\w+ )?twarz\w*|opadniet\w* kacik)\b|نصف وجهه|وجهه متدل"
)
_THROAT = r"\b(?:throat|gorge|garganta|hals|gola|gatul|gatu|gat|gardlo)\b|حلقي|حلقه|حلق"
_CLOSING = (
    r"\b(?:closing(?: up)?|se referme|se ferme|cerrando|cierra|fechar|fechando|a fechar|schnurt sich zu|"
    r"schwillt zu|chiudendo|si chiude|inchide|se inchide|zamyka)\b|ينغلق|تنغلق"
)
_SWELLING = r"swell|gonfl|hinch|inch|schwill|gonfi|umfl|puch|يتورم"
_STING = (
    r"\b(?:stung|sting|bee|wasp|peanuts?|nuts|pique|piqure|abeille|guepe|picado|picadura|abeja|avispa|picada|"
    r"picou|abelha|vespa|gestochen|stich|biene|wespe|punto|puntura|ape|intepat|intepatura|albina|viespe|"
    r"uzadlil\w*|uzadlenie|pszczol\w*|osa)\b|لسعتني|لسعه|نحله|دبور"
)
_CHOKING = (
    r"\b(?:choking|is choking|s'etouffe|s'etrangle|atragant\w*|engasga\w*|erstickt|verschluckt sich|"
    r"si (?:sta )?soffoc\w*|soffoca|se ineaca|se sufoca|zakrztusil\w*|dusi sie)\b|يختنق|تختنق"
)
_CANT_BREATHE = (
    r"\b(?:can't (?:breathe|catch (?:his|her|my) breath)|cannot breathe|unable to breathe|struggling to breathe|"
    r"n'arrive (?:plus|pas) a respirer|ne (?:peut|peux) plus respirer|no (?:puede|puedo) respirar|"
    r"nao (?:consegue|consigo) respirar|(?:bekommt|bekomme|kriegt|kriege) (?:kaum|keine) luft|"
    r"non riesce a respirare|nu (?:mai )?poate respira|nie (?:moze|moge) (?:zlapac tchu|oddychac)|nie oddycha)\b"
    r"|لا يستطيع التنفس|لا تستطيع التنفس|لا استطيع التنفس"
)
_BLOOD = (
    r"\b(?:blood|bleeding|sang|saigne|saignement|sangre|sangrando|sangue|sangrar|a sangrar|blut|blutung|blutet|"
    r"sanguina|sanguinamento|sange|sangereaza|krew|krwawi\w*|krwawienie)\b|الدم|نزيف|انزف"
)
_WONT_STOP = (
    r"\b(?:won't stop|doesn't stop|isn't stopping|not stopping|ne s'arrete pas|ne s'arrete plus|no para|no deja de|"
    r"nao para|hort nicht auf|non si ferma|non smette|nu se opreste|nie przestaje|nie ustaje)\b|لا يتوقف"
)
_LETTERS = r"\b(?:letters?|notes?|lettres?|cartas?|briefe?|lettere|lettera|scrisori|scrisoare|listy|list)\b|رسائل|رساله"
_READY_TO_GO = (
    r"\b(?:ready to (?:go|leave|die)|pret a (?:partir|mourir)|prete a (?:partir|mourir)|listo para (?:irme|morir)|"
    r"lista para (?:irme|morir)|pronto para (?:partir|morrer)|pronta para (?:partir|morrer)|"
    r"bereit zu (?:gehen|sterben)|pront[oa] ad andarmene|pront[oa] a morire|gata sa (?:plec|mor)|"
    r"gotow[ya] odejsc|gotow[ya] umrzec)\b|مستعد للرحيل|مستعده للرحيل"
)
_HIS_SUICIDE = (
    r"\b(?:sich umbringen (?:wird|will)|si (?:ammazzera|uccidera|suicidera)|o sa se (?:sinucida|omoare)|"
    r"vrea sa se (?:sinucida|omoare)|se va sinucide|va se suicider|va se tuer|se va a (?:matar|suicidar)|"
    r"vai-se matar|vai se matar|se vai matar|vai suicidar-se)\b"
)
_EDGE = (
    r"\b(?:(?:on|at) the edge of|au bord d\w*|en el borde de\w*|na beira d\w*|am rand d\w*|sul bordo d\w*|"
    r"pe marginea|na krawedzi)\b|علي حافه"
)
_CONCEPTS = "|".join(
    [
        _both(_EDGE, _HEIGHT, r"[^.!?\n]{0,25}?"),
        "(?:" + _both(_PILLS, _ALL_OF_THEM, _WIDE) + ")(?=.*(?:" + _INTENT + "))",
        _both(_TOOK, _both(_NUMBER_WORDS, _PILLS, r"[^.!?\n]{0,25}?"), _WIDE),
        _both(_PILLS, _NOT_WAKE, _WIDE),
        _NOT_HERE,
        _IF_GONE,
        _both(_TONIGHT, _END_IT, _WIDE),
        _both(_WAY, _TO_DIE, r"[^.!?\n]{0,30}?"),
        _KILL_SELF,
        _both(_LETTERS, _READY_TO_GO, _WIDE),
        _HIS_SUICIDE,
    ]
)
_CONCEPTS_SELF_HARM = (
    _both(_CUT, _ARMS, r"[^.!?\n]{0,25}?")
    + "|"
    + _both(_CUT, _AGAIN, _WIDE)
    + (r"|\b(?:magoar-me|me magoar|magoo-me|sa-mi fac rau|imi fac rau|robic sobie krzywde|robie sobie krzywde)\b")
)
_CONCEPTS_MEDICAL = "|".join(
    [
        _both(_SWALLOW, _DANGEROUS, _WIDE),
        _SPEECH_LOSS + r"[^.!?\n]{0,60}?(?:" + _FACE_DROOP + ")",
        _FACE_DROOP,
        _both(_THROAT, _CLOSING, r"[^.!?\n]{0,25}?"),
        "(?:" + _both(_THROAT, _STING, _WIDE) + ")(?=.*(?:" + _CLOSING + "|" + _SWELLING + "))",
        _CHOKING,
        _CANT_BREATHE,
        _both(_BLOOD, _WONT_STOP, _WIDE),
    ]
)

# -- context that makes a match something else ---------------------------------------------------------
_FICTION = (
    r"\b(?:novel|book|film|movie|series|story|character|heroine|hero|protagonist|article|news|documentar\w*|"
    r"documental|doku\w*|dokument\w*|essay|"
    r"statistics|roman|livre|serie|personnage|heroine|infos|journal|novela|libro|pelicula|personaje|protagonista|"
    r"noticias|romance|livro|filme|personagem|noticias|buch|romans?|figur|heldin|nachrichten|romanzo|personaggio|"
    r"telegiornale|carte|personaj\w*|eroina|stiri|powiesc\w*|ksiazk\w*|bohater\w*|wiadomosciach)\b"
    r"|روايه|الروايه|كتاب|فيلم|مسلسل|البطل|البطله|الاخبار"
)
_ACCIDENT = (
    r"\b(?:shaving|cooking|by accident|accidentally|nothing serious|it's nothing|paper cut|en me rasant|rasant|"
    r"en cuisinant|par accident|rien de grave|afeitar\w*|cocinando|sin querer|no es nada|fazer a barba|"
    r"a cozinhar|sem querer|nao e nada|rasieren|beim kochen|aus versehen|nichts schlimmes|barba|cucinando|"
    r"per sbaglio|niente di grave|barbierit|gatind|din greseala|nimic grav|przy goleniu|goleniu|przy gotowaniu|"
    r"przypadkiem|nic powaznego)\b|احلق|اطبخ|بالخطا|لا شيء خطير"
)
_HYPOTHETICAL = (
    r"\b(?:if (?:someone|somebody|a person|anyone)|what (?:should i|to) do if|si quelqu'un|que faire si|"
    r"si alguien|que hago si|se alguem|o que faco se|wenn jemand|was tue ich,? wenn|se qualcuno|cosa faccio se|"
    r"daca cineva|ce fac daca|gdy ktos|jesli ktos|co robic,? gdy|signs of|symptoms of|signes d|sintomas de|"
    r"anzeichen|sintomi|semnele|objawy|how (?:do you|to|can you|would you) (?:recogni[sz]e|spot|identify|tell)|"
    r"comment (?:on )?reconna\w+|como se (?:reconoce|reconhece)|woran erkennt|come si riconosce|cum recunosti|"
    r"jak rozpozna\w*|warning signs|what (?:should i|do i|to) (?:do|say) if|how (?:do|does|should|can) (?:i|you|we|"
    r"they|first responders|paramedics)\b[^.!?\n]{0,30}\b(?:treat|help|handle|manage|talk to|support)|"
    r"que faire si|comment (?:aider|reagir|parler a)|que hacer si|como (?:ayudar|actuar|hablar con)|"
    r"o que fazer se|como (?:ajudar|falar com)|was (?:tun|mache ich),? wenn|wie (?:helfe|spreche) ich|woran erkenne|"
    r"cosa fare se|come (?:aiutare|parlare con)|ce (?:sa )?fac daca|cum (?:ajut|vorbesc cu)|co zrobic,? (?:jesli|gdy)|"
    r"jak (?:pomoc|rozmawiac z))\b"
    r"|اذا اصيب شخص|اذا (?:كان )?شخص|علامات|كيف نتعرف|ماذا افعل اذا|كيف اساعد|كيف اتحدث مع"
)
_RESOLVED = (
    r"\b(?:last (?:year|month|week)|years ago|stopped after|it stopped|l'an dernier|l'annee derniere|"
    r"le mois dernier|il y a des annees|s'est arrete|el ano pasado|el mes pasado|hace anos|paro a los|"
    r"no ano passado|no mes passado|ha anos|parou|letztes jahr|letzten monat|vor jahren|war vorbei|"
    r"l'anno scorso|il mese scorso|anni fa|si e fermato|anul trecut|luna trecuta|acum cativa ani|s-a oprit|"
    r"w zeszlym roku|w zeszlym miesiacu|lata temu|przestala|przestal|(?:two|three|four|five|\d+|a few|several) "
    r"(?:years?|months?) ago|il y a (?:deux|trois|quelques|\d+) (?:ans|mois)|hace (?:dos|tres|unos|\d+) (?:anos|meses)|"
    r"ha (?:dois|tres|uns|\d+) (?:anos|meses)|vor (?:zwei|drei|ein paar|\d+) (?:jahren|monaten)|"
    r"(?:due|tre|qualche|\d+) (?:anni|mesi) fa|acum (?:doi|trei|cativa|\d+) (?:ani|luni)|"
    r"(?:dwa|trzy|kilka|\d+) (?:lata|lat|miesiace|miesiecy) temu|used to|doing (?:great|well|fine) now|"
    r"(?:is|she's|he's|i'm) (?:fine|ok|okay|better) now|va (?:tres )?bien maintenant|esta (?:bien|genial) ahora|"
    r"esta (?:bem|otima|otimo) agora|geht es (?:ihr|ihm|mir) (?:gut|super)|sta (?:bene|benissimo) ora|"
    r"e (?:bine|foarte bine) acum|ma sie (?:dobrze|swietnie))\b"
    r"|\b(?:(?:it |has |had )?stopped bleeding|(?:isn't|is not|not) bleeding (?:any ?more|now)|no longer bleeding|"
    r"ne saigne plus|a arrete de saigner|ya no sangra|dejo de sangrar|(?:ja )?nao sangra mais|ja nao sangra|"
    r"parou de sangrar|blutet nicht mehr|non sanguina piu|ha smesso di sanguinare|nu mai sangereaza|"
    r"s-a oprit sangerarea|(?:juz )?nie krwawi|przestal\w* krwawic|running around|playing (?:normally|happily)|"
    r"seems (?:completely )?fine|corre (?:tutto )?content\w*|court partout|corre feliz|"
    r"rennt (?:aber )?(?:frohlich|munter)|alearga fericit|biega wesol\w*)\b"
    r"|العام الماضي|الشهر الماضي|توقف بعد|قبل (?:سنتين|سنوات|عامين|اشهر|\d+ سنوات)|بخير الان|بخير تماما|توقف الدم|"
    r"توقف النزيف|يركض سعيدا"
)
_ROUTINE = (
    r"\b(?:every (?:morning|day|evening|night)|tous les (?:matins|jours|soirs)|todas las (?:mananas|noches)|"
    r"todos los dias|todas as manhas|todos os dias|jeden (?:morgen|tag|abend)|ogni (?:mattina|giorno|sera)|"
    r"in fiecare (?:dimineata|zi|seara)|kazdego (?:ranka|dnia)|codziennie|remember to take|me souvenir de|"
    r"acordarme de|lembrar de|lembro de|daran denken|ricordarmi di|sa-mi amintesc|pamietac o|remind me|"
    r"rappelle-moi|rappeler de|recuerdame|me recuerdas|lembra-me|lembrar-me|erinner\w* mich|ricordami|mi ricordi|"
    r"aminteste-mi|imi amintesti|przypomnij|przypomnisz|tutti i giorni|zilnic|taglich|diariamente|daily)\b"
    r"|كل صباح|كل يوم|اتذكر|ذكرني|تذكرني|يوميا"
)
_MINOR = (
    r"\b(?:(?:through|via|out of|par|por|pelo|pela|durch|col|con il|dal|pe|przez)\s(?:\w+\s)?(?:nose|nostrils?|nez|"
    r"nariz|nase|naso|nas)|nose (?:is |was )?(?:blocked|stuffy|bunged up)|(?:blocked|stuffy|runny) nose|"
    r"nez (?:bouche|qui coule)|nariz (?:tapada|entupido|a pingar)|(?:verstopfte|zue) nase|naso chiuso|"
    r"nasul infundat|zatkany nos|a cold|un rhume|un resfriado|uma constipacao|einer erkaltung|raffreddore|"
    r"unei raceli|przeziebieni\w*)\b"
    r"|من انفي|انفي مسدود|الزكام|نزله برد"
)
_STUDY = (
    r"\b(?:training|lecture|seminar|homework|essay|thesis|research|studying|first[- ]aid (?:course|class|training)|"
    r"(?:i'm|i am|as) an? (?:nurse|paramedic|teacher|student|first responder)|formation|cours de secourisme|memoire|"
    r"je suis (?:infirmier\w*|ambulancier\w*|prof\w*|etudiant\w*)|formacion|tesis|"
    r"soy (?:enfermer[oa]|profesor[a]?|estudiante|tecnico de emergencias|socorrista)|formacao|tese|"
    r"sou (?:enfermeir[oa]|professor[a]?|estudante|tecnico de emergencia)|schulung|hausarbeit|referat|"
    r"ich bin (?:\w*pfleger\w*|lehrer\w*|student\w*|\w*sanitater\w*)|tesina|tesi|"
    r"sono (?:un |una |un')?(?:infermier\w*|insegnante|studente\w*|soccorritore)|lucrarea de licenta|"
    r"sunt (?:asistent[ae]|profesoar[ae]|profesor|student[ae]?|paramedic)|szkoleni\w*|wyklad\w*|"
    r"jestem (?:pielegniar\w*|nauczyciel\w*|student\w*|ratowni\w*))\b"
    r"|تدريب|محاضره|انا (?:ممرض\w*|معلم\w*|طالب\w*|مسعف)"
)


# First-person statements of intent no context cancels.
_EXPLICIT = (
    r"\b(?:i (?:want|wanna|am going|'m going|plan|intend) to (?:kill myself|die|end my life)|je veux (?:me tuer|mourir|"
    r"me suicider)|quiero (?:matarme|morirme|suicidarme)|quero (?:me matar|morrer)|ich will (?:mich umbringen|sterben)|"
    r"voglio (?:uccidermi|morire)|vreau sa (?:ma sinucid|mor)|chce (?:sie zabic|umrzec))\b|اريد ان (?:اقتل نفسي|اموت)"
)


# Model output that recognises a crisis (the reply to it is fixed, never left to the model).
_OUTPUT = (
    r"\b(?:thinking|thoughts) (?:about|of) (?:suicide|ending your life|killing yourself|hurting yourself|self-harm)\b"
    r"|\b(?:suicide|crisis) (?:hotline|lifeline|helpline|line)\b|\bif you(?:'re| are) in (?:immediate )?danger\b"
    r"|\bcall (?:911|112|999|000|emergency services|an ambulance) (?:now|immediately|right away|right now)\b"
    r"|\b(?:seek|get) (?:emergency|immediate) (?:help|medical (?:help|attention|care))\b"
    r"|\bpensees suicidaires\b|\bsi vous pensez (?:au suicide|a mettre fin)\b|\bappele[rz]? (?:le 15|le 112"
    r"|les urgences) "
    r"(?:immediatement|maintenant|tout de suite)\b|\b(?:en|si vous etes en) danger immediat\b"
    r"|\bpensamientos suicidas\b|\bsi (?:estas|esta) pensando en (?:quitarte|quitarse) la vida\b"
    r"|\bllam[ae] (?:al 112|al 911|a emergencias) (?:ahora|inmediatamente|ya)\b|\bpeligro inmediato\b"
    r"|\bpensamentos suicidas\b|\bligue (?:para o )?(?:112|192) (?:agora|imediatamente|ja)\b|\bperigo imediato\b"
    r"|\bsuizidgedanken\b|\bruf(?:en sie)? (?:sofort|jetzt) (?:die )?(?:112|den notruf|den notarzt)\b"
    r"|\bunmittelbarer gefahr\b|\bpensieri suicidi\b|\bchiama (?:subito |immediatamente )?(?:il )?(?:112|118)\b"
    r"|\bpericolo immediato\b|\bganduri (?:de sinucidere|suicidare)\b|\bsuna(?:ti)? (?:imediat |acum )?la 112\b"
    r"|\bpericol imediat\b|\bmysli samobojcze\b|\bzadzwon (?:natychmiast |teraz )?(?:na|pod) (?:112|999)\b"
    r"|\bbezposrednim niebezpieczenstwie\b|افكار انتحاريه|اتصل (?:فورا|الان) بالطوارئ|خطر مباشر"
)

FAMILIES: dict[str, str] = {
    "suicide": _SUICIDE + "|" + _CONCEPTS,
    "self_harm": _SELF_HARM + "|" + _CONCEPTS_SELF_HARM,
    "third_party": _THIRD_PARTY,
    "medical": _MEDICAL + "|" + _CONCEPTS_MEDICAL,
}


@lru_cache(maxsize=1)
def _compiled() -> tuple[tuple[tuple[str, re.Pattern[str]], ...], re.Pattern[str]]:
    families = tuple((n, re.compile(arabic_form(p))) for n, p in FAMILIES.items())
    return families, re.compile(arabic_form(HYPERBOLE))


@lru_cache(maxsize=1)
def _contexts() -> dict[str, re.Pattern[str]]:
    return {
        name: re.compile(arabic_form(pattern))
        for name, pattern in (
            ("fiction", _FICTION),
            ("accident", _ACCIDENT),
            ("hypothetical", _HYPOTHETICAL),
            ("resolved", _RESOLVED),
            ("routine", _ROUTINE),
            ("study", _STUDY),
            ("minor", _MINOR),
            ("laughter", _LAUGHTER),
        )
    }


@lru_cache(maxsize=512)
def contexts(text: str) -> frozenset[str]:
    """What frames the text as something other than a crisis happening now: ``fiction`` (a novel, the news,
    statistics), ``accident`` (shaving, cooking, "nothing serious"), ``hypothetical`` ("what to do if someone…",
    "signs of…"), ``resolved`` (last year, "it stopped", "she's fine now"), ``routine`` ("every morning", "remind me"),
    ``study`` (a course, a thesis, "I'm a nurse"), ``minor`` (a blocked nose, a cold), ``laughter`` ("lol", "mdr",
    "jajaja": a joke; a first-person statement of intent is still a crisis)."""
    form = normalize(text)
    return frozenset(name for name, pattern in _contexts().items() if pattern.search(form))


# Which contexts cancel which families (a person's own first-person intent is never cancelled by them).
_CANCELS = {
    "medical": {"fiction", "hypothetical", "resolved", "routine", "study", "minor", "hyperbole", "laughter"},
    "third_party": {"fiction", "hypothetical", "study"},
    "self_harm": {"accident", "fiction", "hypothetical", "resolved", "study", "laughter"},
    "suicide": {"fiction", "routine", "hypothetical", "resolved", "study", "laughter"},
}


def output_hits(text: str) -> list[str]:
    """Crisis families in a sentence of model output: the input rules plus ``acknowledged`` (the model saw a crisis)."""
    hits = rule_hits(text)
    if _compiled_output().search(normalize(text)):
        hits.append("acknowledged")
    return hits


@lru_cache(maxsize=1)
def _compiled_output() -> re.Pattern[str]:
    return re.compile(arabic_form(_OUTPUT))


def rule_hits(text: str) -> list[str]:
    """The crisis families whose rules match ``text`` (``suicide``, ``self_harm``, ``third_party``, ``medical``),
    less those its context cancels (a novel's overdose, a shaving cut, "what to do if someone has a seizure")."""
    form = normalize(text)
    families, _ = _compiled()
    hits = [name for name, pattern in families if pattern.search(form)]
    if not hits:
        return hits
    framing = contexts(text) | ({"hyperbole"} if "medical" in hits and is_hyperbole(text) else set())
    if "suicide" in hits and framing and _explicit().search(form):
        return hits  # "I want to kill myself" stays a crisis whatever else the message says
    return [h for h in hits if not (framing & _CANCELS[h])]


@lru_cache(maxsize=1)
def _explicit() -> re.Pattern[str]:
    return re.compile(arabic_form(_EXPLICIT))


@lru_cache(maxsize=512)
def is_hyperbole(text: str) -> bool:
    """True when ``text`` holds a figure of speech about dying or killing (in any of the nine languages)."""
    return bool(_compiled()[1].search(normalize(text)))
