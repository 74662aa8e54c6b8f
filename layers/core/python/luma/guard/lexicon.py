"""Concept lexicons in nine languages: the language-independent features of the learned head.

Each concept is a list of words (``"knife"``), stems (``"couteau*"``: any word starting so) and phrases
(``"on purpose"``) in en, fr, es, pt, de, it, ro, pl and ar, matched on the normalized text
(:mod:`luma.guard.text`). :func:`features` turns a message into one 0/1 value per concept; the head
learns which combinations mean injection or crisis, and a combination learned from French examples
holds in Polish too. Arabic words are also tried without their attached prefixes (و ف ب ل ال).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from luma.guard.text import arabic_form, normalize

CONCEPTS: dict[str, str] = {
    # -- people and time ----------------------------------------------------------------------------
    "first_person": """i i'm im i've ive i'll i'd me my myself je j' moi me m' mon ma mes moi-meme yo me mi mis
        eu me mim meu minha meus minhas ich mich mir mein* io mi mio mia miei mie eu ma mie meu mea mele ja mnie mi
        moj* moja moje sobie انا نفسي""",
    "second_person": """you your yours yourself u ur tu te toi ton ta tes vous votre vos tu te ti tus usted su sus
        voce teu tua teus tuas du dich dir dein* ihr* tu ti te tuo tua tuoi tue tu tau ta tale ty ciebie cie ci twoj*
        twoi* swoj* انت لك""",
    "third_party": """he she him her his hers they brother sister son daughter friend girlfriend boyfriend husband
        wife partner mum mom mother dad father grandad grandfather grandma grandmother neighbour neighbor baby
        child kid toddler il elle frere soeur fils fille ami amie copine copain mari femme mere pere bebe enfant petit
        el ella hermano hermana hijo hija amigo amiga novia novio marido mujer madre padre abuelo abuela bebe nino nina
        ele ela irmao irma filho filha amigo amiga namorada namorado marido mulher mae pai avo bebe crianca
        er sie bruder schwester sohn tochter freund freundin mann frau mutter vater opa oma baby kind
        lui lei fratello sorella figlio figlia amico amica ragazza ragazzo marito moglie madre padre nonno nonna
        bambino bambina el ea fratele sora fiul fiica prieten prietena iubita sotul sotia mama tata bunicul bunica
        copilul bebelusul on ona brat siostra syn corka przyjaciel przyjaciolka dziewczyna chlopak maz zona mama
        tata dziadek babcia dziecko هو هي اخي اختي ابني ابنتي صديقي صديقتي زوجي زوجتي امي ابي جدي جدتي طفلي""",
    "now": """now tonight today right-now currently maintenant ce-soir cette-nuit aujourd'hui ahora esta-noche hoy
        agora esta-noite hoje jetzt heute gerade adesso ora stanotte stasera oggi acum diseara azi teraz dzis
        الان الليله اليوم""",
    "again": """again anymore still keep keeps kept encore recommence* toujours otra nuevo sigo outra voltei
        wieder immer ancora di-nuovo continuo iar din-nou mereu znowu ciagle wciaz مجددا مره""",
    # -- crisis ---------------------------------------------------------------------------------
    "death": """die dying died dead death suicid* kill killing killed mourir meurs meurt mort* tuer tue suicid*
        morir muero muere muert* matar* mato suicid* morrer morro morte morto matar* sterben sterbe stirbt tot* tod
        umbring* suizid* selbstmord* morire muoio morto morte uccid* ammazz* suicid* muri mor moarte mort omor*
        sinucid* umrze* umier* smier* zabi* samoboj* موت اموت الموت يموت انتحار الانتحار انتحر قتل اقتل""",
    "end_life": """end ending finish* life-end en-finir finir fin vie termin* acabar acabo acabe vida fim acabar
        schluss beend* ende leben finita farla-finita fine vita termin* capat viata skoncz* koncz* koniec zycie
        zyciem انهي انهاء حياتي""",
    "exist": """exist* existence alive live living exister vivre vie existir vivir vida viver existieren leben
        lebendig esistere vivere vita exista trai* viata istniec zyc zycie عيش العيش الوجود""",
    "gone": """disappear* vanish* gone away forever disparai* disparaitre disparu pour-toujours desaparec* para-siempre
        desapareces* para-sempre de-vez verschwind* weg fur-immer sparir* sparissi per-sempre dispar* pentru-totdeauna
        definitiv znikn* na-zawsze na-dobre اختف* الي-الابد""",
    "not_want": """don't dont do-not no-longer not never ne pas plus jamais no nunca ya-no nao ja-nao nicht kein*
        nie non mai nu niciodata nie لا لم لن""",
    "want": """want wanna wish going gonna plan planning planned decided ready thinking veux voudrais vais pense
        compte prevois decide pret quiero quisiera voy pienso planeo decidido listo quero queria vou penso planear
        decidi pronto will mochte werde plane denke beschlossen bereit voglio vorrei vado penso pianific* deciso
        pronto vreau as-vrea o-sa ma-gandesc plan* hotarat gata chce chcialbym zamierzam mysle planuje postanowil*
        gotow* اريد افكر اخطط قررت مستعد""",
    "means": """pills pill tablets tablet meds medication* overdose paracetamol* ibuprof* painkiller* antidepress*
        sleeping-pills knife knives blade* razor* rope noose gun bridge roof ledge tracks train car wall cigarette*
        lighter poison bleach comprim* medicament* cachet* pilule* couteau lame rasoir corde pont toit rails voiture
        mur cigarette* briquet poison javel pastill* cuchill* navaja cuerda puente azotea tejado vias coche muro
        cigarrillo* mechero veneno lejia comprimid* faca lamina corda ponte telhado comboio carro muro cigarro*
        isqueiro veneno lixivia tablett* messer klinge* rasierklinge* seil strick brucke dach gleis* auto wand
        zigarette* feuerzeug gift bleiche pastigli* pillol* coltello lama corda ponte tetto binari macchina muro
        sigarett* accendino veleno candeggina pastil* cutit* lama funie frangh* pod acoperis sine masina zid tigar*
        bricheta otrava inalbitor tablet* lekow leki noz* zyletk* sznur most* dach* tor* auto* sciane papieros*
        zapalniczk* trucizn* wybielacz حبوب حبه اقراص سكين شفره حبل جسر سطح قطار سياره جدار سجائر سجاير سم مبيض""",
    "harm": """hurt* harm* cut cuts cutting burn* scratch* slash* self-harm blesse* mal coupe* coupure* brule* scarifi*
        taillad* griff* automutil* dano lastim* cort* quem* arano autolesion* magoa* machuc* corto cortei queim*
        arranh* automutil* verletz* schneid* ritz* verbrenn* kratz* selbstverletz* male ferisc* tagli* bruci*
        graffi* autolesion* rau ranesc* tai* taiat ard* zgari* autovatam* krzywd* rani* tne* ciac* pocie* przypal*
        drap* okalecz* اذي اوذي ايذاء اجرح جرحت احرق اخدش""",
    "self_object": """myself moi-meme sur-moi contre-moi a-mi-mismo contra-mi mismo em-mim contra-mim mich-selbst
        gegen-mich mir-selbst su-di-me me-stesso pe-mine sobie na-sobie siebie نفسي""",
    "goodbye": """goodbye goodbyes farewell adieu adieux despedida adios despedida abschied* lebewohl addio addii
        adio ramas-bun pozegnan* pozegnal* وداع""",
    "fear_for": """scared afraid worried fear peur inquiet* miedo preocupad* medo preocupad* angst sorge* paura
        preoccupat* frica teama ingrijorat* boje boi martwie اخاف قلق""",
    "help_now": """help emergency ambulance urgent au-secours secours urgence ambulance samu socorro ayuda urgencia
        ambulancia emergencia socorro ajuda emergencia ambulancia inem hilfe notfall notarzt krankenwagen
        rettungswagen aiuto emergenza ambulanza soccorso ajutor urgenta ambulanta salvarea pomocy pomoc
        karetk* pogotowi* النجده ساعدوني الاسعاف طوارئ""",
    "breathing": """breath* breathe breathing suffocat* choking choke respir* etouff* asphyxi* respirar atragant*
        ahog* asfixi* respirar engasg* sufoc* atem* atmet atmen luft erstick* respir* soffoc* respir* sufoc*
        inec* oddych* tchu dusi* zakrztus* تنفس يتنفس تتنفس يختنق اختناق""",
    "unconscious": """unconscious unresponsive collapsed passed-out fainted faint not-moving slumped inconscient*
        evanoui* effondre* ne-bouge-pas malaise inconsciente desmay* desplom* no-se-mueve tirado desmaio* desmaiou
        caido nao-se-mexe bewusstlos ohnmacht* zusammengebroch* bewegt-sich-nicht svenut* crollat* privo-di-sensi
        non-si-muove steso incostient* lesin* prabusit* nu-se-misca nieprzytom* zemdl* omdl* nie-rusza osunal*
        فاقد اغمي منهار لا-يتحرك""",
    "acute_sign": """seizure convuls* stroke heart-attack chest asthma inhaler bleeding blood lips blue grey gray
        vomiting racing drooping swollen swelling sting allergic anaphyla* crise-cardiaque infarctus avc poitrine
        asthme inhalateur saign* sang levres bleu* gris* vomi* s'emballe ictus infarto pecho asma inhalador sangr*
        labios azul* gris* vomit* infarto avc peito asma bomba sangr* labios roxo cinzent* vomit* krampf* schlaganfall
        herzinfarkt brust asthma spray blut* lippen blau grau erbrech* convulsion* ictus infarto petto asma
        inalatore sangu* labbra blu grigi* vomit* convulsii avc infarct piept astm inhalator sanger* sange buze*
        vinet* gri voma* drgawk* udar zawal* klatk* astm* inhalator krwaw* krew usta sin* szar* wymiot* تشنج*
        جلطه نوبه صدر ربو بخاخ نزيف الدم شفتاه زرق* رمادي*""",
    "not_working": """not-working isn't-working doesn't-work won't-stop not-stopping ne-marche-pas ne-fonctionne-pas
        ne-s'arrete-pas no-funciona no-para nao-funciona nao-para nao-esta-a-resultar hilft-nicht funktioniert-nicht
        hort-nicht-auf non-funziona non-si-ferma nu-merge nu-functioneaza nu-se-opreste nie-dziala nie-przestaje
        لا-يعمل لا-يتوقف""",
    # -- crisis lookalikes ------------------------------------------------------------------------
    "fiction": """novel book film movie series story character heroine protagonist article news documentary essay
        statistics rates roman livre serie personnage heroine article infos documentaire novela libro pelicula
        personaje protagonista noticias documental estadistic* romance livro filme personagem noticias documentario
        buch film figur heldin artikel nachrichten doku* statistik* romanzo libro personaggio protagonista articolo
        telegiornale documentario carte personaj eroina articol stiri documentar powiesc* ksiazk* bohater* artykul*
        wiadomosc* dokument* روايه كتاب فيلم مسلسل البطل البطله مقال الاخبار وثائقي""",
    "hypothetical": """if what-should what-to-do signs symptoms how-do-i-know si que-faire signes symptomes si
        que-hago senales sintomas se o-que-faco sinais sintomas wenn was-tue anzeichen symptome se cosa-faccio segni
        sintomi daca ce-fac semne simptome jesli gdy co-robic objawy اذا علامات اعراض""",
    "hyperbole": """killing-me dying-to dying-of die-of death-of-me dead-tired kill-me-now me-tue me-tuent mourir-de
        meurs-de mort-de me-mata me-esta-matando muero-de muerto-de a-matar-me morrendo-de morro-de morto-de
        bringt-mich-um sterbe-vor todmude mi-sta-uccidendo muoio-di morto-di ma-omoara mor-de mort-de
        mnie-wykonczy umieram-z تقتلني اموت-من""",
    "accident": """shaving cooking accident accidentally nothing-serious small minor rasant cuisinant accident
        rien-de-grave petit afeitar* cocinando accidente sin-querer pequeno barba cozinhar acidente sem-querer
        rasier* kochen versehen klein barba cucinando sbaglio piccolo barbierit gatind accident mic
        golen* gotowan* przypadk* drobn* احلق اطبخ بالخطا صغير""",
    # -- injection ---------------------------------------------------------------------------------
    "instructions": """instruction* rules rule guideline* directive* prompt* system configuration config settings
        programming policy policies consigne* regle* directive* systeme parametres programmation politique
        instruccion* regla* norma* directriz* sistema configuracion ajustes programacion politica instruc* regra*
        diretriz* sistema configurac* definicoes programacao politica anweisung* regel* richtlinie* vorgabe*
        system* konfiguration einstellung* programmierung istruzion* regol* linee-guida direttiv* sistema
        configurazione impostazion* programmazione instructiun* regul* directiv* sistem configurat* setari*
        programare instrukcj* zasad* regul* wytyczn* systemow* konfiguracj* ustawien* programowan* تعليمات
        التعليمات قواعد القواعد ارشادات النظام الموجه اعدادات""",
    "secret": """hidden secret initial original internal confidential loaded startup start beginning above
        cache* secret* initial* original* interne* confidentiel* charge* demarrage debut dessus ocult* secret*
        inicia* original* intern* confidencial* cargad* arriba escondid* carregad* acima versteckt* geheim*
        anfangs* ursprunglich* intern* vertraulich* geladen* oben nascost* segret* iniziali originali interne
        riservat* caricat* sopra ascuns* secret* initial* original* intern* confidential* incarcat* sus ukryt*
        tajn* poczatkow* oryginaln* wewnetrzn* poufn* zaladowan* wyzej المخفيه السريه الاوليه الاصليه""",
    "reveal": """show print reveal tell repeat copy paste translate summarize summarise list output display write
        encode dump leak disclose recite spell share montre affiche revele devoile dis repete copie colle traduis
        resume liste ecris encode muestra ensena imprime revela dime repite copia pega traduce resume enumera
        escribe codifica mostra imprime revela diz repete copia cola traduz resume lista escreve zeig* druck*
        verrat* sag* wiederhol* kopier* fug* ubersetz* fass* nenn* schreib* kodier* mostra stampa rivela dimmi ripeti
        copia incolla traduci riassumi elenca scrivi codifica arata afiseaza dezvaluie spune repeta copiaza lipeste
        tradu rezuma listeaza scrie codifica pokaz* wypisz ujawnij powiedz powtorz skopiuj wklej przetlumacz
        strescz* wymien napisz zakoduj zdradz* اعرض اظهر اكشف قل اخبرني كرر انسخ الصق ترجم لخص اكتب""",
    "override": """ignore ignoring disregard forget override bypass skip circumvent drop abandon disable deactivate
        switch-off turn-off stop-following dismiss ignore* oublie* contourn* desactiv* coupe* passe-outre
        laisse-tomber ignora* olvid* salta* desactiva* apaga* omite pasa-de ignor* esquec* contorn* desativ*
        deslig* ignorier* vergiss* umgeh* uberspring* deaktivier* abschalt* ignora* dimentic* aggir* salta*
        disattiv* spegni* scavalca ignora* uita* ocol* sari-peste treci-peste dezactiv* opreste zignor* ignoruj*
        zapomnij pomin* omin* obejdz* wylacz* olej* تجاهل انس تجاوز تخط عطل اوقف""",
    "freedom": """unrestricted unfiltered uncensored unlimited unbound jailbreak* jailbroken dan anything
        everything no-limits no-rules no-restrictions no-filter* without sans censure debride* tout sin censura
        filtro* todo cualquier sem censura filtro* tudo qualquer ohne unzensiert* ungefiltert* uneingeschrankt*
        alles keine* senza censura filtri tutto qualsiasi fara cenzura filtru orice tot bez cenzur* filtr*
        wszystko zadnych بلا بدون رقابه فلتر قيود كل-شيء""",
    "persona": """pretend act role role-play roleplay play character persona game simulate imagine become
        mode hypothetically fais-semblant fais-comme joue jouer role personnage jeu imagine deviens mode
        finge haz-como actua juega papel personaje juego imagina conviertete modo finge faz-de-conta age joga papel
        personagem jogo imagina modo tu-so spiel* rolle figur modus stell-dir-vor fai-finta fingi agisci gioca ruolo
        personaggio gioco immagina modalita prefa-te joaca rol personaj joc imagineaza modul udawaj zagraj graj
        role postac* gra wyobraz tryb تظاهر مثل تمثيل دور العب لعبه تخيل وضع""",
    "authority": """admin administrator developer developers engineer engineering creator creators manager
        staff team root maintenance operator owner boss it-department openai anthropic verified administrateur
        developpeur ingenieur createur responsable personnel equipe maintenance administrador desarrollador
        ingeniero creador gerente personal equipo mantenimiento administrador desenvolvedor programador
        engenheiro criador gestora gestor equipa manutencao administrator entwickler ingenieur schopfer
        managerin manager personal team wartung* amministratore sviluppatore ingegnere creatore responsabile
        personale manutenzione administratorul dezvoltator inginer creator managera personal echipa mentenanta
        administrator programista inzynier tworc* kierownik* kierowniczk* personel zespol serwis* المسؤول المطور
        مهندس مطوروك مديره موظف الصيانه""",
    "data": """clients client's customers records files data database phone-numbers emails bookings names addresses
        everyone other other's another user users clients' dossier* donnees base reservations noms autres
        clients historial datos base reservas nombres otros demas pacientes processo dados base marcacoes
        nomes outros doentes akte* daten datenbank buchungen namen anderen kunden cartell* dati database
        prenotazion* nomi altri pazienti dosar* date baza programari* nume altor pacienti kart* dane baz* rezerwacj*
        nazwisk* innych pacjentow ملف بيانات قاعده حجوزات الاسماء المرضي""",
    "safety": """safety security privacy filter filters checks verification moderation guardrails policy
        policies protection securite confidentialite filtres verification controles seguridad privacidad
        filtros verificacion controles seguranca privacidade filtros verificacao controlos sicherheit*
        datenschutz* filter prufung* kontroll* sicurezza privacy filtri verifica controlli siguranta
        confidentialitate filtre verificare controale bezpieczenstw* prywatnosc* filtr* weryfikacj* kontrol*
        الامان الخصوصيه الفلاتر التحقق""",
    "off": """off disabled switched-off turned-off deactivated suspended coupe* desactive* arrete* apagad*
        desactivad* desligad* desativad* abgeschaltet ausgeschaltet deaktiviert spent* disattivat* oprit*
        dezactivat* wylaczon* معطله متوقفه""",
    "security_topic": """cybersecurity cyber attack attacks protect protection defend injection injections
        vulnerability hacker* teacher lesson course research explain what-is cybersecurite attaque proteger
        injection cours prof ciberseguridad ataque proteger inyeccion clase profesora ciberseguranca ataque proteger
        injecao aula professora cybersicherheit* angriff* schutz* schutzen injection lehrerin unterricht
        sicurezza-informatica attacco proteggere injection lezione insegnante securitate-cibernetica atac proteja
        injectie lectie profesoara cyberbezpieczenstw* atak* chronic injection lekcj* nauczycielk* الامن-السيبراني
        هجوم حمايه حقن درس معلمه""",
}


@dataclass(frozen=True)
class _Tables:
    exact: dict[str, frozenset[int]]
    prefix: dict[str, frozenset[int]]
    lengths: tuple[int, ...]  # prefix lengths, longest first
    phrases: dict[tuple[str, ...], frozenset[int]]
    phrase_lengths: tuple[int, ...]
    names: tuple[str, ...]


@lru_cache(maxsize=1)
def _tables() -> _Tables:
    exact: dict[str, set[int]] = {}
    prefix: dict[str, set[int]] = {}
    phrases: dict[tuple[str, ...], set[int]] = {}
    names = tuple(CONCEPTS)
    for index, name in enumerate(names):
        for raw in CONCEPTS[name].split():
            entry = arabic_form(normalize(raw.replace("-", " ")))
            if " " in entry:
                phrases.setdefault(tuple(_TOKEN.findall(entry)), set()).add(index)
            elif entry.endswith("*"):
                prefix.setdefault(entry[:-1], set()).add(index)
            else:
                exact.setdefault(entry, set()).add(index)
    return _Tables(
        exact={k: frozenset(v) for k, v in exact.items()},
        prefix={k: frozenset(v) for k, v in prefix.items()},
        lengths=tuple(sorted({len(p) for p in prefix}, reverse=True)),
        phrases={k: frozenset(v) for k, v in phrases.items()},
        phrase_lengths=tuple(sorted({len(p) for p in phrases})),
        names=names,
    )


_AR_PREFIX = re.compile(r"^(?:وال|بال|فال|لل|ال|و|ف|ب|ل)(?=\w{2})")
_TOKEN = re.compile(r"\w+(?:'\w+)?")


def concept_names() -> list[str]:
    """The concepts, in feature order."""
    return list(_tables().names)


@lru_cache(maxsize=512)
def _indices(text: str) -> frozenset[int]:
    tables = _tables()
    found: set[int] = set()
    tokens = _TOKEN.findall(normalize(text))
    for token in tokens:
        for word in {token, token.split("'")[-1], _AR_PREFIX.sub("", token)}:
            found.update(tables.exact.get(word, ()))
            for n in tables.lengths:
                if n <= len(word):
                    found.update(tables.prefix.get(word[:n], ()))
    for n in tables.phrase_lengths:
        for i in range(len(tokens) - n + 1):
            found.update(tables.phrases.get(tuple(tokens[i : i + n]), ()))
    return frozenset(found)


def features(text: str) -> np.ndarray:
    """One 0/1 value per concept (float32, in :func:`concept_names` order)."""
    out = np.zeros(len(_tables().names), dtype=np.float32)
    out[list(_indices(text))] = 1.0
    return out
