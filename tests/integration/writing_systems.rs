//! Copies are found, and independent write-ups kept apart, in every script a newsroom
//! handles: Cyrillic, Greek, Arabic, Hebrew (spaced, word tokens) and Chinese, Japanese,
//! Thai (unspaced, character tokens). Each case is a short original passage written for
//! this test, a republished copy (site chrome, dateline, a changed word), an excerpt, and
//! an independent article on the same subject in the same script.

use neardup::{Article, CopyKind, Detector, DetectorConfig};

struct Case {
    script: &'static str,
    original: &'static str,
    /// (from, to): one word the copy editor changed.
    edit: (&'static str, &'static str),
    chrome_top: &'static str,
    chrome_bottom: &'static str,
    /// How many leading sentences (split on `split`) make the excerpt.
    split: &'static str,
    independent: &'static str,
}

const CASES: &[Case] = &[
    Case {
        script: "Cyrillic",
        original: "Городской совет Новосибирска в четверг одобрил план реконструкции старого речного порта. \
            По словам мэра, на месте заброшенных складов появятся парк, набережная длиной три километра \
            и новый причал для прогулочных судов. Работы начнутся весной следующего года и продлятся около \
            четырёх лет. Стоимость проекта оценивается в двенадцать миллиардов рублей, половину которых \
            выделит областной бюджет. Жители района, которые несколько лет добивались благоустройства \
            берега, встретили решение с одобрением.",
        edit: ("одобрил", "утвердил"),
        chrome_top: "Главная » Новости » Город\nОпубликовано 12 марта",
        chrome_bottom: "Подписывайтесь на наш канал в Телеграме\n© 2024 Вечерний город. Все права защищены.",
        split: ". ",
        independent: "Мэрия Новосибирска представила проект обновления речного порта: вместо старых \
            складов горожане получат зелёную зону и прогулочную набережную. Чиновники рассчитывают \
            завершить стройку за четыре года, а деньги частично даст область. Эксперты спорят, \
            окупится ли такая набережная, и советуют сначала отремонтировать дороги к берегу.",
    },
    Case {
        script: "Greek",
        original: "Το δημοτικό συμβούλιο της Θεσσαλονίκης ενέκρινε την Πέμπτη το σχέδιο για την ανάπλαση \
            του παλιού λιμανιού. Σύμφωνα με τον δήμαρχο, στη θέση των εγκαταλελειμμένων αποθηκών θα \
            δημιουργηθεί πάρκο, παραλιακός πεζόδρομος μήκους τριών χιλιομέτρων και νέα προβλήτα για \
            τουριστικά σκάφη. Οι εργασίες θα ξεκινήσουν την άνοιξη και θα διαρκέσουν περίπου τέσσερα \
            χρόνια. Το κόστος του έργου εκτιμάται σε διακόσια εκατομμύρια ευρώ, τα μισά από το κράτος.",
        edit: ("ενέκρινε", "υιοθέτησε"),
        chrome_top: "Αρχική » Ειδήσεις » Πόλη",
        chrome_bottom: "Ακολουθήστε μας στο Facebook\n© 2024 Βραδινή Πόλη",
        split: ". ",
        independent: "Ο δήμος Θεσσαλονίκης παρουσίασε πρόταση για την αναβάθμιση της περιοχής του \
            λιμανιού, με χώρους πρασίνου και διαδρομές περιπάτου για τους επισκέπτες. Αξιωματούχοι \
            ανέφεραν ότι η χρηματοδότηση θα προέλθει εν μέρει από την κυβέρνηση και ότι το έργο θα \
            χρειαστεί αρκετά χρόνια, ενώ οι κάτοικοι ζητούν πρώτα καλύτερη συγκοινωνία.",
    },
    Case {
        script: "Arabic",
        original: "وافق مجلس مدينة الإسكندرية يوم الخميس على خطة لتطوير الميناء القديم. وقال المحافظ إن \
            المخازن المهجورة ستتحول إلى حديقة عامة وممشى على البحر بطول ثلاثة كيلومترات ورصيف جديد \
            لقوارب النزهة. ومن المتوقع أن تبدأ الأعمال في الربيع المقبل وأن تستمر نحو أربع سنوات. \
            وتقدر تكلفة المشروع بمليار جنيه، تتحمل الحكومة نصفها. ورحب سكان المنطقة بالقرار بعد \
            سنوات من المطالبة بتحسين الشاطئ.",
        edit: ("وافق", "صادق"),
        chrome_top: "الرئيسية » أخبار » المدينة",
        chrome_bottom: "تابعونا على تويتر\nجميع الحقوق محفوظة © 2024",
        split: ". ",
        independent: "أعلنت محافظة الإسكندرية عن مشروع جديد لتجميل منطقة الميناء، يتضمن مساحات خضراء \
            وأماكن للتنزه. وأكد مسؤولون أن التمويل سيأتي جزئيا من الحكومة المركزية وأن المشروع \
            سيستغرق عدة سنوات، بينما يطالب الأهالي بتحسين الطرق المؤدية إلى البحر أولا.",
    },
    Case {
        script: "Hebrew",
        original: "מועצת העיר חיפה אישרה ביום חמישי תוכנית לשיקום הנמל הישן. לדברי ראש העיר, במקום \
            המחסנים הנטושים ייבנו פארק, טיילת באורך שלושה קילומטרים ומזח חדש לסירות טיול. העבודות \
            יחלו באביב הבא ויימשכו כארבע שנים. עלות הפרויקט מוערכת במאות מיליוני שקלים, וחלק ממנה \
            ימומן על ידי המדינה. תושבי השכונה, שדרשו במשך שנים לשפר את החוף, בירכו על ההחלטה.",
        edit: ("אישרה", "העבירה"),
        chrome_top: "ראשי » חדשות » העיר",
        chrome_bottom: "הצטרפו לערוץ הטלגרם שלנו\n© 2024 כל הזכויות שמורות",
        split: ". ",
        independent: "עיריית חיפה הציגה תוכנית חדשה לחידוש אזור הנמל, הכוללת שטחים ירוקים ומסלולי \
            הליכה. לפי גורמים בעירייה, המימון יגיע בחלקו מהממשלה והבנייה תימשך מספר שנים, \
            ואילו התושבים מבקשים קודם כול לשפר את התחבורה הציבורית אל הים.",
    },
    Case {
        script: "Chinese",
        original: "青岛市议会星期四批准了老港口改造计划。市长表示，废弃的仓库将被改建为公园、长达三公里的\
            滨海步道以及供游船停靠的新码头。工程将于明年春天开工，预计持续约四年。总投资约为五十亿元\
            人民币，其中一半由省财政承担。附近居民多年来一直呼吁整治海岸，对这一决定表示欢迎。",
        edit: ("批准", "通过"),
        chrome_top: "首页 » 新闻 » 本地",
        chrome_bottom: "欢迎关注我们的微信公众号\n版权所有 © 2024 晚报",
        split: "。",
        independent: "青岛市政府公布了港区更新方案，计划把旧码头一带建成绿地和休闲区。官员说，资金部分来自\
            中央政府，整个项目需要数年时间才能完成，市民可以在网上提出意见，不少人希望先改善交通。",
    },
    Case {
        script: "Japanese",
        original: "横浜市議会は木曜日、古い港の再開発計画を承認した。市長によると、使われなくなった倉庫の\
            跡地には公園と長さ三キロの遊歩道、そして観光船のための新しい桟橋が整備される。工事は来年の\
            春に始まり、およそ四年かかる見通しだ。総事業費は約八百億円で、その半分を国が負担する。\
            長年海辺の整備を求めてきた住民は、この決定を歓迎している。",
        edit: ("承認", "可決"),
        chrome_top: "ホーム » ニュース » 地域",
        chrome_bottom: "公式LINEアカウントをフォローしてください\n© 2024 夕刊ヨコハマ",
        split: "。",
        independent: "横浜市は港の周辺地域を新しくする案を発表し、古い埠頭の一帯を緑地や散歩道に変える方針を\
            示した。担当者は、費用の一部を国から受け取り、完成までには数年が必要だと説明した。住民の\
            間では、まず駅からの交通を便利にしてほしいという声が多い。",
    },
    Case {
        script: "Thai",
        original: "สภาเมืองภูเก็ตอนุมัติแผนพัฒนาท่าเรือเก่าเมื่อวันพฤหัสบดี นายกเทศมนตรีกล่าวว่าโกดังร้าง\
            จะถูกเปลี่ยนเป็นสวนสาธารณะ ทางเดินริมทะเลยาวสามกิโลเมตร และท่าเทียบเรือใหม่สำหรับเรือท่องเที่ยว \
            งานก่อสร้างจะเริ่มต้นปีหน้าและใช้เวลาประมาณสี่ปี งบประมาณทั้งหมดราวสองพันล้านบาท \
            โดยรัฐบาลจะสนับสนุนครึ่งหนึ่ง ชาวบ้านที่เรียกร้องให้ปรับปรุงชายหาดมานานต่างยินดีกับการตัดสินใจนี้",
        edit: ("อนุมัติ", "เห็นชอบ"),
        chrome_top: "หน้าแรก » ข่าว » ท้องถิ่น",
        chrome_bottom: "ติดตามเราทางไลน์\n© 2024 ข่าวภูเก็ตรายวัน",
        split: " ",
        independent: "เทศบาลภูเก็ตเปิดเผยโครงการปรับปรุงพื้นที่รอบท่าเรือ โดยจะสร้างพื้นที่สีเขียวและทางเดิน\
            สำหรับนักท่องเที่ยว เจ้าหน้าที่ระบุว่างบประมาณบางส่วนมาจากรัฐบาลกลางและโครงการจะใช้เวลาหลายปี \
            ขณะที่ประชาชนอยากให้แก้ปัญหาการจราจรก่อน",
    },
];

fn article<'a>(id: &'a str, text: &'a str, source: &'a str, day: i64) -> Article<'a> {
    Article { id, text, source, published: Some(day * 86_400_000) }
}

/// The first half of the passage's sentences.
fn excerpt(case: &Case) -> String {
    let sentences: Vec<&str> = case.original.split(case.split).collect();
    sentences[..sentences.len().div_ceil(2)].join(case.split)
}

#[test]
fn copies_are_found_and_independent_articles_kept_apart_in_every_script() {
    for case in CASES {
        let detector = Detector::new(DetectorConfig::default()).unwrap();
        let original = detector.ingest(&article("original", case.original, "wire", 1)).unwrap();
        assert_eq!(original.kind, CopyKind::NewStory, "{}", case.script);

        let body = case.original.replacen(case.edit.0, case.edit.1, 1);
        assert_ne!(body, case.original, "{}: the edit must apply", case.script);
        let copy = format!("{}\n\n{body}\n\n{}", case.chrome_top, case.chrome_bottom);
        let verdict = detector.ingest(&article("copy", &copy, "outlet", 2)).unwrap();
        assert_ne!(verdict.kind, CopyKind::NewStory, "{}: copy not found", case.script);
        assert_eq!(verdict.cluster_id, "original", "{}", case.script);
        assert_eq!(verdict.origin_id, "original", "{}", case.script);

        let excerpt = format!("{}\n\n{}\n\n{}", case.chrome_top, excerpt(case), case.chrome_bottom);
        let verdict = detector.ingest(&article("excerpt", &excerpt, "outlet-2", 3)).unwrap();
        assert_ne!(
            verdict.kind,
            CopyKind::NewStory,
            "{}: excerpt not found: {verdict:?}",
            case.script
        );
        assert_eq!(verdict.cluster_id, "original", "{}", case.script);
        let best = &verdict.matches[0];
        assert!(
            best.containment > best.containment_rev,
            "{}: the excerpt is the contained one: {best:?}",
            case.script
        );

        let verdict =
            detector.ingest(&article("independent", case.independent, "other", 4)).unwrap();
        assert_eq!(
            verdict.kind,
            CopyKind::NewStory,
            "{}: independent article merged: {verdict:?}",
            case.script
        );
        assert_eq!(verdict.cluster_id, "independent", "{}", case.script);
    }
}

#[test]
fn unspaced_scripts_get_character_tokens_and_spaced_scripts_words() {
    let tokens = |text: &str| neardup::text::normalize(text).split(' ').count();
    // Thai, Chinese and Japanese have no spaces between words: one token per character.
    assert_eq!(tokens("ท่าเรือเก่า"), 8); // tone and vowel marks stay on their letter
    assert_eq!(tokens("老港口改造计划"), 7);
    assert_eq!(tokens("古い港の再開発"), 7);
    // Cyrillic, Greek, Arabic and Hebrew: one token per word.
    assert_eq!(tokens("старого речного порта"), 3);
    assert_eq!(tokens("του παλιού λιμανιού"), 3);
    assert_eq!(tokens("لتطوير الميناء القديم"), 3);
    assert_eq!(tokens("לשיקום הנמל הישן"), 3);
}
