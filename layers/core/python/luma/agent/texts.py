"""The fixed, user-safe texts of the agent path, in the nine languages Luma answers in."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "unavailable": {
        "en": "I can only help with appointments, opening hours, locations and putting you in touch with our "
        "staff right now: answering other questions needs the AI assistant, which is not switched on here.",
        "fr": "Pour l'instant, je peux seulement vous aider pour vos rendez-vous, nos horaires, nos adresses et "
        "vous mettre en contact avec notre équipe : les autres questions demandent l'assistant IA, qui n'est "
        "pas activé ici.",
        "es": "Ahora mismo solo puedo ayudarle con sus citas, nuestro horario, nuestras direcciones y ponerle en "
        "contacto con nuestro personal: para otras preguntas hace falta el asistente de IA, que no está "
        "activado aquí.",
        "pt": "De momento só posso ajudar com as suas consultas, o nosso horário, as nossas moradas e pô-lo em "
        "contacto com a nossa equipa: outras perguntas precisam do assistente de IA, que não está ativado aqui.",
        "de": "Im Moment kann ich nur bei Terminen, Öffnungszeiten und Standorten helfen und Sie mit unserem "
        "Team verbinden: Für andere Fragen braucht es den KI-Assistenten, der hier nicht eingeschaltet ist.",
        "it": "Al momento posso aiutarla solo con gli appuntamenti, gli orari, le sedi e metterla in contatto con "
        "il nostro personale: per altre domande serve l'assistente IA, che qui non è attivo.",
        "ro": "Deocamdată vă pot ajuta doar cu programările, orarul, adresele și punerea în legătură cu echipa "
        "noastră: pentru alte întrebări este nevoie de asistentul AI, care nu este activat aici.",
        "pl": "W tej chwili mogę pomóc tylko w sprawie wizyt, godzin otwarcia, adresów i kontaktu z naszym "
        "personelem: inne pytania wymagają asystenta AI, który nie jest tu włączony.",
        "ar": "يمكنني الآن المساعدة فقط في المواعيد وساعات العمل والعناوين والتواصل مع فريقنا: "
        "الأسئلة الأخرى تحتاج إلى المساعد الذكي، وهو غير مفعّل هنا.",
    },
    "apology": {
        "en": "I'm sorry, I can't answer that right now. Please try again in a moment, or call the clinic if "
        "it's urgent.",
        "fr": "Désolé, je ne peux pas répondre pour le moment. Réessayez dans un instant, ou appelez la clinique "
        "si c'est urgent.",
        "es": "Lo siento, ahora mismo no puedo responder. Inténtelo de nuevo en un momento, o llame a la "
        "clínica si es urgente.",
        "pt": "Lamento, neste momento não consigo responder. Tente novamente daqui a pouco, ou ligue para a "
        "clínica se for urgente.",
        "de": "Entschuldigung, ich kann gerade nicht antworten. Bitte versuchen Sie es gleich noch einmal, oder "
        "rufen Sie die Praxis an, wenn es dringend ist.",
        "it": "Mi dispiace, al momento non riesco a rispondere. Riprovi tra poco, oppure chiami la clinica se è "
        "urgente.",
        "ro": "Îmi pare rău, nu pot răspunde acum. Încercați din nou peste puțin timp sau sunați la clinică "
        "dacă este urgent.",
        "pl": "Przepraszam, nie mogę teraz odpowiedzieć. Proszę spróbować za chwilę lub zadzwonić do kliniki, "
        "jeśli sprawa jest pilna.",
        "ar": "عذرًا، لا أستطيع الإجابة الآن. يرجى المحاولة بعد قليل، أو الاتصال بالعيادة إذا كان الأمر عاجلًا.",
    },
    "escalated": {
        "en": "I'm sorry, I couldn't finish this myself, so I've asked a member of our staff to contact you. "
        "If it's urgent, please call the clinic.",
        "fr": "Désolé, je n'ai pas pu aller au bout moi-même : j'ai demandé à un membre de notre équipe de vous "
        "contacter. Si c'est urgent, appelez la clinique.",
        "es": "Lo siento, no he podido terminar esto yo mismo, así que he pedido a un miembro de nuestro "
        "personal que se ponga en contacto con usted. Si es urgente, llame a la clínica.",
        "pt": "Lamento, não consegui concluir isto sozinho, por isso pedi a um membro da nossa equipa que o "
        "contacte. Se for urgente, ligue para a clínica.",
        "de": "Entschuldigung, das konnte ich nicht selbst erledigen. Ich habe unser Team gebeten, sich bei "
        "Ihnen zu melden. Wenn es dringend ist, rufen Sie bitte die Praxis an.",
        "it": "Mi dispiace, non sono riuscito a completare la richiesta, quindi ho chiesto a un membro del "
        "personale di contattarla. Se è urgente, chiami la clinica.",
        "ro": "Îmi pare rău, nu am putut finaliza singur, așa că am rugat un membru al echipei să vă contacteze. "
        "Dacă este urgent, vă rugăm să sunați la clinică.",
        "pl": "Przepraszam, nie udało mi się tego dokończyć, więc poprosiłem kogoś z personelu o kontakt. "
        "Jeśli sprawa jest pilna, proszę zadzwonić do kliniki.",
        "ar": "عذرًا، لم أتمكن من إتمام ذلك بنفسي، لذا طلبت من أحد أفراد فريقنا التواصل معك. "
        "إذا كان الأمر عاجلًا، يرجى الاتصال بالعيادة.",
    },
}


def text(key: str, language: str) -> str:
    """The text ``key`` in ``language`` (English when that language has none)."""
    table = TEXTS[key]
    return table.get(language, table["en"])
