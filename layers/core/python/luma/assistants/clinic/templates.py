"""Reply templates of the clinic's fast paths, in the nine languages Luma answers in.

Every language has every key with the same ``{placeholders}`` (a unit test checks it). Counts
are written as "attempts left: 2" so no language needs plural rules. Names, doctors, reasons and
addresses come from the clinic's data as they are. Dates use the language's weekday and month
names (:func:`format_when`), never the process locale.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from luma.language import DEFAULT, SUPPORTED

TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "greeting": (
            "Hello{name}! I'm the {clinic} assistant. I can show, confirm or cancel your appointments "
            "and tell you our opening hours and locations. How can I help?"
        ),
        "goodbye": "Goodbye{name}, take care! Write any time if you need us.",
        "hours_header": "Our opening hours ({clinic}):",
        "closed": "closed",
        "locations_header": "You can find us at:",
        "parking": "Parking",
        "ask_identity": (
            "To protect your privacy I first need to check who you are. Please send your full name "
            "and date of birth, for example: Jane Doe, 14/03/1985."
        ),
        "identity_failed": (
            "Sorry, I couldn't match those details. Please check the spelling of your full name and your "
            "date of birth. {left} attempt(s) left."
        ),
        "identity_locked": (
            "I couldn't verify your identity after {max} attempts, so identity checks are paused for {minutes} "
            "minutes to protect your data. Please call the clinic on {phone}."
        ),
        "identity_ok": "Thank you, {first}, you're verified.",
        "no_appointments": "You have no upcoming appointments.",
        "appointments_header": "Your upcoming appointments:",
        "appointment_line": "• {when} — {doctor} ({reason}) at {location}, {status}",
        "when": "{weekday} {day} {month} at {time}",
        "confirmed": "Done: your appointment on {when} with {doctor} is confirmed. See you then!",
        "all_confirmed": "All your upcoming appointments are already confirmed.",
        "nothing_to_cancel": "You have no upcoming appointments to cancel.",
        "cancel_ask": "Do you want me to cancel your appointment on {when} with {doctor}? Please answer yes or no.",
        "cancelled": "Your appointment on {when} with {doctor} is cancelled. Would you like to book another time?",
        "cancel_kept": "OK, I've kept your appointment on {when} with {doctor}.",
        "escalated": (
            "I've asked a member of our staff to contact you; they usually reply within working hours. "
            "If it's urgent please call {phone}, and in an emergency call 112."
        ),
        "status_scheduled": "not yet confirmed",
        "status_confirmed": "confirmed",
    },
    "fr": {
        "greeting": (
            "Bonjour{name} ! Je suis l'assistant de {clinic}. Je peux afficher, confirmer ou annuler vos "
            "rendez-vous et vous indiquer nos horaires et nos adresses. Que puis-je faire pour vous ?"
        ),
        "goodbye": "Au revoir{name}, prenez soin de vous ! Écrivez-nous quand vous voulez.",
        "hours_header": "Nos horaires d'ouverture ({clinic}) :",
        "closed": "fermé",
        "locations_header": "Vous nous trouverez ici :",
        "parking": "Stationnement",
        "ask_identity": (
            "Pour protéger vos données, je dois d'abord vérifier votre identité. Envoyez-moi votre nom complet "
            "et votre date de naissance, par exemple : Jeanne Dupont, 14/03/1985."
        ),
        "identity_failed": (
            "Désolé, je ne retrouve pas ces informations. Vérifiez l'orthographe de votre nom complet et votre "
            "date de naissance. Tentatives restantes : {left}."
        ),
        "identity_locked": (
            "Je n'ai pas pu vérifier votre identité après {max} tentatives : les vérifications sont suspendues "
            "pendant {minutes} minutes pour protéger vos données. Merci d'appeler la clinique au {phone}."
        ),
        "identity_ok": "Merci, {first}, votre identité est vérifiée.",
        "no_appointments": "Vous n'avez aucun rendez-vous à venir.",
        "appointments_header": "Vos prochains rendez-vous :",
        "appointment_line": "• {when} — {doctor} ({reason}), {location}, {status}",
        "when": "{weekday} {day} {month} à {time}",
        "confirmed": "C'est fait : votre rendez-vous du {when} avec {doctor} est confirmé. À bientôt !",
        "all_confirmed": "Tous vos rendez-vous à venir sont déjà confirmés.",
        "nothing_to_cancel": "Vous n'avez aucun rendez-vous à venir à annuler.",
        "cancel_ask": "Voulez-vous que j'annule votre rendez-vous du {when} avec {doctor} ? Répondez oui ou non.",
        "cancelled": (
            "Votre rendez-vous du {when} avec {doctor} est annulé. Souhaitez-vous prendre un autre rendez-vous ?"
        ),
        "cancel_kept": "D'accord, je garde votre rendez-vous du {when} avec {doctor}.",
        "escalated": (
            "J'ai demandé à un membre de notre équipe de vous contacter ; il répond généralement pendant les "
            "heures d'ouverture. Si c'est urgent, appelez le {phone}, et en cas d'urgence vitale le 112."
        ),
        "status_scheduled": "pas encore confirmé",
        "status_confirmed": "confirmé",
    },
    "es": {
        "greeting": (
            "¡Hola{name}! Soy el asistente de {clinic}. Puedo mostrar, confirmar o cancelar sus citas e "
            "informarle de nuestro horario y nuestras direcciones. ¿En qué puedo ayudarle?"
        ),
        "goodbye": "Adiós{name}, ¡cuídese! Escríbanos cuando lo necesite.",
        "hours_header": "Nuestro horario ({clinic}):",
        "closed": "cerrado",
        "locations_header": "Puede encontrarnos en:",
        "parking": "Aparcamiento",
        "ask_identity": (
            "Para proteger su privacidad, primero necesito comprobar su identidad. Envíeme su nombre completo "
            "y su fecha de nacimiento, por ejemplo: Juana Pérez, 14/03/1985."
        ),
        "identity_failed": (
            "Lo siento, no he encontrado esos datos. Revise cómo ha escrito su nombre completo y su fecha de "
            "nacimiento. Intentos restantes: {left}."
        ),
        "identity_locked": (
            "No he podido verificar su identidad tras {max} intentos, así que las comprobaciones quedan en pausa "
            "durante {minutes} minutos para proteger sus datos. Llame a la clínica al {phone}."
        ),
        "identity_ok": "Gracias, {first}, su identidad está verificada.",
        "no_appointments": "No tiene ninguna cita próxima.",
        "appointments_header": "Sus próximas citas:",
        "appointment_line": "• {when} — {doctor} ({reason}) en {location}, {status}",
        "when": "{weekday} {day} {month} a las {time}",
        "confirmed": "Hecho: su cita del {when} con {doctor} está confirmada. ¡Hasta entonces!",
        "all_confirmed": "Todas sus próximas citas ya están confirmadas.",
        "nothing_to_cancel": "No tiene ninguna cita próxima que cancelar.",
        "cancel_ask": "¿Quiere que cancele su cita del {when} con {doctor}? Responda sí o no.",
        "cancelled": "Su cita del {when} con {doctor} está cancelada. ¿Quiere reservar otra?",
        "cancel_kept": "De acuerdo, mantengo su cita del {when} con {doctor}.",
        "escalated": (
            "He pedido a un miembro de nuestro equipo que se ponga en contacto con usted; suele responder en "
            "horario de atención. Si es urgente, llame al {phone}, y en caso de emergencia, al 112."
        ),
        "status_scheduled": "pendiente de confirmar",
        "status_confirmed": "confirmada",
    },
    "pt": {
        "greeting": (
            "Olá{name}! Sou o assistente da {clinic}. Posso mostrar, confirmar ou cancelar as suas consultas "
            "e indicar o nosso horário e as nossas moradas. Em que posso ajudar?"
        ),
        "goodbye": "Adeus{name}, cuide-se! Escreva-nos sempre que precisar.",
        "hours_header": "O nosso horário ({clinic}):",
        "closed": "fechado",
        "locations_header": "Pode encontrar-nos em:",
        "parking": "Estacionamento",
        "ask_identity": (
            "Para proteger a sua privacidade, preciso primeiro de confirmar a sua identidade. Envie o seu nome "
            "completo e a data de nascimento, por exemplo: Joana Silva, 14/03/1985."
        ),
        "identity_failed": (
            "Lamento, não encontrei esses dados. Verifique a ortografia do seu nome completo e a data de "
            "nascimento. Tentativas restantes: {left}."
        ),
        "identity_locked": (
            "Não consegui verificar a sua identidade após {max} tentativas, por isso as verificações ficam em pausa "
            "durante {minutes} minutos para proteger os seus dados. Ligue para a clínica: {phone}."
        ),
        "identity_ok": "Obrigado, {first}, a sua identidade está verificada.",
        "no_appointments": "Não tem consultas marcadas.",
        "appointments_header": "As suas próximas consultas:",
        "appointment_line": "• {when} — {doctor} ({reason}) em {location}, {status}",
        "when": "{weekday} {day} {month} às {time}",
        "confirmed": "Feito: a sua consulta de {when} com {doctor} está confirmada. Até lá!",
        "all_confirmed": "Todas as suas próximas consultas já estão confirmadas.",
        "nothing_to_cancel": "Não tem consultas marcadas para cancelar.",
        "cancel_ask": "Quer que cancele a sua consulta de {when} com {doctor}? Responda sim ou não.",
        "cancelled": "A sua consulta de {when} com {doctor} foi cancelada. Quer marcar outra?",
        "cancel_kept": "Está bem, mantenho a sua consulta de {when} com {doctor}.",
        "escalated": (
            "Pedi a um membro da nossa equipa que entre em contacto consigo; normalmente responde dentro do "
            "horário de funcionamento. Se for urgente, ligue para {phone} e, em caso de emergência, para o 112."
        ),
        "status_scheduled": "ainda não confirmada",
        "status_confirmed": "confirmada",
    },
    "de": {
        "greeting": (
            "Hallo{name}! Ich bin der Assistent der {clinic}. Ich kann Ihre Termine anzeigen, bestätigen oder "
            "absagen und Ihnen unsere Öffnungszeiten und Standorte nennen. Wie kann ich helfen?"
        ),
        "goodbye": "Auf Wiedersehen{name}, alles Gute! Schreiben Sie uns jederzeit, wenn Sie uns brauchen.",
        "hours_header": "Unsere Öffnungszeiten ({clinic}):",
        "closed": "geschlossen",
        "locations_header": "Sie finden uns hier:",
        "parking": "Parken",
        "ask_identity": (
            "Zum Schutz Ihrer Daten muss ich zuerst Ihre Identität prüfen. Bitte senden Sie Ihren vollständigen "
            "Namen und Ihr Geburtsdatum, zum Beispiel: Erika Muster, 14.03.1985."
        ),
        "identity_failed": (
            "Leider konnte ich diese Angaben nicht zuordnen. Bitte prüfen Sie die Schreibweise Ihres vollständigen "
            "Namens und Ihr Geburtsdatum. Verbleibende Versuche: {left}."
        ),
        "identity_locked": (
            "Ich konnte Ihre Identität nach {max} Versuchen nicht bestätigen; zum Schutz Ihrer Daten sind weitere "
            "Prüfungen für {minutes} Minuten gesperrt. Bitte rufen Sie die Klinik unter {phone} an."
        ),
        "identity_ok": "Danke, {first}, Ihre Identität ist bestätigt.",
        "no_appointments": "Sie haben keine anstehenden Termine.",
        "appointments_header": "Ihre nächsten Termine:",
        "appointment_line": "• {when} — {doctor} ({reason}), {location}, {status}",
        "when": "{weekday}, {day}. {month} um {time}",
        "confirmed": "Erledigt: Ihr Termin am {when} bei {doctor} ist bestätigt. Bis dann!",
        "all_confirmed": "Alle Ihre anstehenden Termine sind bereits bestätigt.",
        "nothing_to_cancel": "Sie haben keine anstehenden Termine, die abgesagt werden könnten.",
        "cancel_ask": "Soll ich Ihren Termin am {when} bei {doctor} absagen? Bitte antworten Sie mit Ja oder Nein.",
        "cancelled": "Ihr Termin am {when} bei {doctor} ist abgesagt. Möchten Sie einen neuen Termin vereinbaren?",
        "cancel_kept": "In Ordnung, Ihr Termin am {when} bei {doctor} bleibt bestehen.",
        "escalated": (
            "Ich habe ein Mitglied unseres Teams gebeten, sich bei Ihnen zu melden; in der Regel geschieht das "
            "während der Öffnungszeiten. Wenn es dringend ist, rufen Sie {phone} an, im Notfall die 112."
        ),
        "status_scheduled": "noch nicht bestätigt",
        "status_confirmed": "bestätigt",
    },
    "it": {
        "greeting": (
            "Buongiorno{name}! Sono l'assistente di {clinic}. Posso mostrare, confermare o annullare i suoi "
            "appuntamenti e indicarle i nostri orari e le nostre sedi. Come posso aiutarla?"
        ),
        "goodbye": "Arrivederci{name}, stia bene! Ci scriva quando vuole.",
        "hours_header": "I nostri orari di apertura ({clinic}):",
        "closed": "chiuso",
        "locations_header": "Ci trova qui:",
        "parking": "Parcheggio",
        "ask_identity": (
            "Per proteggere la sua privacy devo prima verificare la sua identità. Mi invii nome, cognome e data "
            "di nascita, per esempio: Maria Rossi, 14/03/1985."
        ),
        "identity_failed": (
            "Mi dispiace, non trovo corrispondenza con questi dati. Controlli come ha scritto nome e cognome e la "
            "data di nascita. Tentativi rimasti: {left}."
        ),
        "identity_locked": (
            "Non sono riuscito a verificare la sua identità dopo {max} tentativi, quindi le verifiche sono sospese "
            "per {minutes} minuti per proteggere i suoi dati. Chiami la clinica al numero {phone}."
        ),
        "identity_ok": "Grazie, {first}, la sua identità è verificata.",
        "no_appointments": "Non ha appuntamenti in programma.",
        "appointments_header": "I suoi prossimi appuntamenti:",
        "appointment_line": "• {when} — {doctor} ({reason}) presso {location}, {status}",
        "when": "{weekday} {day} {month} alle {time}",
        "confirmed": "Fatto: il suo appuntamento di {when} con {doctor} è confermato. A presto!",
        "all_confirmed": "Tutti i suoi prossimi appuntamenti sono già confermati.",
        "nothing_to_cancel": "Non ha appuntamenti in programma da annullare.",
        "cancel_ask": "Vuole che annulli il suo appuntamento di {when} con {doctor}? Risponda sì o no.",
        "cancelled": "Il suo appuntamento di {when} con {doctor} è stato annullato. Vuole prenotare un altro orario?",
        "cancel_kept": "D'accordo, mantengo il suo appuntamento di {when} con {doctor}.",
        "escalated": (
            "Ho chiesto a un membro del nostro staff di contattarla; di solito risponde durante l'orario di "
            "apertura. Se è urgente chiami il {phone}; in caso di emergenza il 112."
        ),
        "status_scheduled": "non ancora confermato",
        "status_confirmed": "confermato",
    },
    "ro": {
        "greeting": (
            "Bună ziua{name}! Sunt asistentul virtual al clinicii {clinic}. Vă pot arăta, confirma sau anula "
            "programările și vă pot spune programul și adresele noastre. Cu ce vă pot ajuta?"
        ),
        "goodbye": "La revedere{name}, aveți grijă de dumneavoastră! Ne puteți scrie oricând.",
        "hours_header": "Programul nostru ({clinic}):",
        "closed": "închis",
        "locations_header": "Ne găsiți la:",
        "parking": "Parcare",
        "ask_identity": (
            "Pentru a vă proteja datele, trebuie mai întâi să vă verific identitatea. Trimiteți-mi numele complet "
            "și data nașterii, de exemplu: Ioana Popescu, 14.03.1985."
        ),
        "identity_failed": (
            "Îmi pare rău, nu am găsit aceste date. Verificați cum ați scris numele complet și data nașterii. "
            "Încercări rămase: {left}."
        ),
        "identity_locked": (
            "Nu v-am putut verifica identitatea după {max} încercări, așa că verificările sunt suspendate timp de "
            "{minutes} minute pentru a vă proteja datele. Vă rugăm să sunați la clinică la {phone}."
        ),
        "identity_ok": "Mulțumesc, {first}, identitatea dumneavoastră a fost verificată.",
        "no_appointments": "Nu aveți programări viitoare.",
        "appointments_header": "Programările dumneavoastră viitoare:",
        "appointment_line": "• {when} — {doctor} ({reason}), {location}, {status}",
        "when": "{weekday} {day} {month}, ora {time}",
        "confirmed": "Gata: programarea din {when} la {doctor} este confirmată. Vă așteptăm!",
        "all_confirmed": "Toate programările dumneavoastră viitoare sunt deja confirmate.",
        "nothing_to_cancel": "Nu aveți programări viitoare de anulat.",
        "cancel_ask": "Doriți să anulez programarea din {when} la {doctor}? Vă rog să răspundeți cu da sau nu.",
        "cancelled": "Programarea din {when} la {doctor} a fost anulată. Doriți să faceți o altă programare?",
        "cancel_kept": "Bine, păstrez programarea din {when} la {doctor}.",
        "escalated": (
            "Am rugat un membru al echipei noastre să vă contacteze; de obicei răspunde în timpul programului. "
            "Dacă este urgent, sunați la {phone}, iar în caz de urgență medicală, la 112."
        ),
        "status_scheduled": "neconfirmată încă",
        "status_confirmed": "confirmată",
    },
    "pl": {
        "greeting": (
            "Dzień dobry{name}! Jestem asystentem {clinic}. Mogę wyświetlić, potwierdzić lub odwołać wizyty "
            "oraz podać nasze godziny otwarcia i adresy. W czym mogę pomóc?"
        ),
        "goodbye": "Do widzenia{name}, wszystkiego dobrego! Proszę pisać, gdy tylko będzie potrzeba.",
        "hours_header": "Nasze godziny otwarcia ({clinic}):",
        "closed": "nieczynne",
        "locations_header": "Nasze adresy:",
        "parking": "Parking",
        "ask_identity": (
            "Aby chronić prywatność, muszę najpierw potwierdzić tożsamość. Proszę podać imię i nazwisko oraz "
            "datę urodzenia, na przykład: Anna Kowalska, 14.03.1985."
        ),
        "identity_failed": (
            "Niestety nie udało się dopasować tych danych. Proszę sprawdzić pisownię imienia i nazwiska oraz "
            "datę urodzenia. Pozostałe próby: {left}."
        ),
        "identity_locked": (
            "Nie udało się potwierdzić tożsamości po {max} próbach, dlatego weryfikacja jest wstrzymana na "
            "{minutes} minut, aby chronić dane. Prosimy zadzwonić do przychodni: {phone}."
        ),
        "identity_ok": "Dziękuję, {first}, tożsamość została potwierdzona.",
        "no_appointments": "Brak nadchodzących wizyt.",
        "appointments_header": "Nadchodzące wizyty:",
        "appointment_line": "• {when} — {doctor} ({reason}), {location}, {status}",
        "when": "{weekday}, {day} {month}, godz. {time}",
        "confirmed": "Gotowe: wizyta ({when}) u {doctor} została potwierdzona. Do zobaczenia!",
        "all_confirmed": "Wszystkie nadchodzące wizyty są już potwierdzone.",
        "nothing_to_cancel": "Brak nadchodzących wizyt do odwołania.",
        "cancel_ask": "Czy odwołać wizytę ({when}) u {doctor}? Proszę odpowiedzieć tak lub nie.",
        "cancelled": "Wizyta ({when}) u {doctor} została odwołana. Czy umówić inny termin?",
        "cancel_kept": "Dobrze, wizyta ({when}) u {doctor} pozostaje bez zmian.",
        "escalated": (
            "Poprosiłem członka naszego zespołu o kontakt; zwykle odpowiada w godzinach pracy przychodni. "
            "W pilnej sprawie proszę dzwonić pod numer {phone}, a w nagłym wypadku pod 112."
        ),
        "status_scheduled": "jeszcze niepotwierdzona",
        "status_confirmed": "potwierdzona",
    },
    "ar": {
        "greeting": (
            "مرحبا{name}! أنا المساعد الآلي لعيادة {clinic}. يمكنني عرض مواعيدك أو تأكيدها أو إلغاؤها، "
            "وإخبارك بساعات العمل وعناويننا. كيف يمكنني مساعدتك؟"
        ),
        "goodbye": "مع السلامة{name}، اعتنِ بنفسك! راسلنا في أي وقت تحتاج فيه إلينا.",
        "hours_header": "ساعات العمل ({clinic}):",
        "closed": "مغلق",
        "locations_header": "تجدوننا في العناوين التالية:",
        "parking": "موقف السيارات",
        "ask_identity": (
            "لحماية خصوصيتك، أحتاج أولا إلى التحقق من هويتك. أرسل اسمك الكامل كما هو مسجل لدينا وتاريخ ميلادك، "
            "مثلا: Jane Doe, 14/03/1985."
        ),
        "identity_failed": (
            "عذرا، لم أتمكن من مطابقة هذه البيانات. يرجى التحقق من كتابة اسمك الكامل وتاريخ ميلادك. "
            "المحاولات المتبقية: {left}."
        ),
        "identity_locked": (
            "لم أتمكن من التحقق من هويتك بعد {max} محاولات، لذا أوقفت التحقق لمدة {minutes} دقيقة لحماية بياناتك. "
            "يرجى الاتصال بالعيادة على الرقم {phone}."
        ),
        "identity_ok": "شكرا يا {first}، تم التحقق من هويتك.",
        "no_appointments": "ليس لديك أي مواعيد قادمة.",
        "appointments_header": "مواعيدك القادمة:",
        "appointment_line": "• {when} — {doctor} ({reason})، {location}، {status}",
        "when": "{weekday} {day} {month} الساعة {time}",
        "confirmed": "تم: موعدك يوم {when} مع {doctor} مؤكد. نراك قريبا!",
        "all_confirmed": "جميع مواعيدك القادمة مؤكدة بالفعل.",
        "nothing_to_cancel": "ليس لديك مواعيد قادمة لإلغائها.",
        "cancel_ask": "هل تريد أن ألغي موعدك يوم {when} مع {doctor}؟ أجب بنعم أو لا.",
        "cancelled": "تم إلغاء موعدك يوم {when} مع {doctor}. هل تود حجز موعد آخر؟",
        "cancel_kept": "حسنا، أبقيت موعدك يوم {when} مع {doctor}.",
        "escalated": (
            "طلبت من أحد أعضاء فريقنا التواصل معك، وعادة ما يرد خلال ساعات العمل. إذا كان الأمر عاجلا "
            "فاتصل على {phone}، وفي حالات الطوارئ اتصل بالرقم 112."
        ),
        "status_scheduled": "غير مؤكد بعد",
        "status_confirmed": "مؤكد",
    },
}

# Monday first, like ``info.WEEKDAYS`` and ``datetime.weekday()``.
WEEKDAYS: dict[str, tuple[str, ...]] = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
    "pt": ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo"),
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "it": ("lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"),
    "ro": ("luni", "marți", "miercuri", "joi", "vineri", "sâmbătă", "duminică"),
    "pl": ("poniedziałek", "wtorek", "środa", "czwartek", "piątek", "sobota", "niedziela"),
    "ar": ("الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد"),
}
WEEKDAYS_SHORT: dict[str, tuple[str, ...]] = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "fr": ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."),
    "es": ("lun", "mar", "mié", "jue", "vie", "sáb", "dom"),
    "pt": ("seg", "ter", "qua", "qui", "sex", "sáb", "dom"),
    "de": ("Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa.", "So."),
    "it": ("lun", "mar", "mer", "gio", "ven", "sab", "dom"),
    "ro": ("lun.", "mar.", "mie.", "joi", "vin.", "sâm.", "dum."),
    "pl": ("pon.", "wt.", "śr.", "czw.", "pt.", "sob.", "niedz."),
    "ar": WEEKDAYS["ar"],
}
MONTHS_SHORT: dict[str, tuple[str, ...]] = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "fr": ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."),
    "es": ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"),
    "pt": ("jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez"),
    "de": ("Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.", "Dez."),
    "it": ("gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic"),
    "ro": ("ian.", "feb.", "mar.", "apr.", "mai", "iun.", "iul.", "aug.", "sept.", "oct.", "nov.", "dec."),
    "pl": ("sty", "lut", "mar", "kwi", "maj", "cze", "lip", "sie", "wrz", "paź", "lis", "gru"),
    "ar": (
        "يناير",
        "فبراير",
        "مارس",
        "أبريل",
        "مايو",
        "يونيو",
        "يوليو",
        "أغسطس",
        "سبتمبر",
        "أكتوبر",
        "نوفمبر",
        "ديسمبر",
    ),
}
# What goes before a name appended to a greeting ("Hello, Alice").
NAME_SEPARATOR: dict[str, str] = {"ar": "، "}


def language(lang: str | None) -> str:
    """``lang`` if the templates have it, else English."""
    return lang if lang in TEMPLATES else DEFAULT


def render(key: str, lang: str = "en", **values: Any) -> str:
    """The template ``key`` in ``lang`` (falling back to English), formatted with ``values``."""
    table = TEMPLATES[language(lang)]
    return table.get(key, TEMPLATES["en"][key]).format(**values)


def weekday_name(index: int, lang: str = "en") -> str:
    """The full name of weekday ``index`` (0 = Monday) in ``lang``."""
    return WEEKDAYS[language(lang)][index]


def format_when(start: datetime, lang: str = "en") -> str:
    """A date and time as the language writes it ("Tue 24 Nov at 09:30", "mar. 24 nov. à 09:30")."""
    lang = language(lang)
    day = f"{start.day:02d}" if lang == "en" else str(start.day)  # English keeps strftime's %d
    return render(
        "when",
        lang,
        weekday=WEEKDAYS_SHORT[lang][start.weekday()],
        day=day,
        month=MONTHS_SHORT[lang][start.month - 1],
        time=start.strftime("%H:%M"),
    )


def name_suffix(name: str, lang: str = "en") -> str:
    """``", Alice"`` (or the language's separator) to append to a greeting; empty without a name."""
    return f"{NAME_SEPARATOR.get(language(lang), ', ')}{name}" if name else ""


assert set(TEMPLATES) == set(SUPPORTED), "every supported language needs templates"
