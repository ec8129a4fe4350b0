"""Write ``src/peergrid/service/common_passwords.txt``: the common-password list of the password policy.

The base words are the well-known top entries of public leaked-password lists and common
password ingredients (names, teams, animals, keyboard walks), written down from memory (no
download); the script adds frequent digit/symbol suffixes to the most common ones. The policy
(:func:`peergrid.service.auth.password_problem`) also strips leading/trailing digits and symbols,
separators and leetspeak before looking a password up, so the list holds the cores.

Run ``python scripts/make_common_passwords.py`` after editing the lists.
"""

from __future__ import annotations

from pathlib import Path

TOP = """
123456 password 12345678 qwerty 123456789 12345 1234 111111 1234567 dragon 123123 baseball abc123 football
monkey letmein 696969 shadow master 666666 qwertyuiop 123321 mustang 1234567890 michael 654321 superman
1qaz2wsx 7777777 121212 000000 qazwsx 123qwe killer trustno1 jordan jennifer zxcvbnm asdfgh hunter buster
soccer harley batman andrew tigger sunshine iloveyou 2000 charlie robert thomas hockey ranger daniel
starwars klaster 112233 george computer michelle jessica pepper 1111 zxcvbn 555555 11111111 131313
freedom 777777 pass maggie 159753 aaaaaa ginger princess joshua cheese amanda summer love ashley nicole
chelsea biteme matthew access yankees 987654321 dallas austin thunder taylor matrix william corvette
hello martin heather secret merlin diamond 1234qwer gfhjkm hammer silver 222222 88888888 anthony justin
test bailey q1w2e3r4t5 patrick internet scooter orange 11111 golfer cookie richard samantha bigdog guitar
jackson whatever mickey chicken sparky snoopy maverick phoenix camaro peanut morgan welcome falcon cowboy
ferrari samsung andrea smokey steelers joseph mercedes dakota arsenal eagles melissa boomer booboo spider
nascar monster tigers yellow xxxxxx 123123123 gateway marina diablo bulldog qwer1234 compaq purple hardcore
banana junior hannah 123654 porsche lakers iceman money cowboys 987654 london tennis 999999 ncc1701 coffee
scooby 0000 miller boston q1w2e3r4 brandon yamaha chester mother forever johnny edward 333333 oliver
redsox player nikita knight fender barney midnight please brandy chicago badboy slayer rangers charles
angel flower bigdaddy rabbit wizard bigdick jasper enter rachel chris steven winner adidas victoria
natasha 1q2w3e4r jasmine winter prince panties marine ghbdtn fishing cocacola casper james 232323 raiders
888888 marlboro gandalf asdfasdf crystal 87654321 12344321 golden blowme bigtits 8675309 panther lauren
angela bitch spanky thx1138 angels madison winston shannon mike toyota blowjob jordan23 canada sophie
apples dick tiger razz 123abc pokemon qazxsw 55555 qwaszx muffin johnson murphy cooper jonathan liverpoo
david danielle 159357 jackie 1990 123456a 789456 turtle horny abcd1234 scorpion qazwsxedc 101010 butter
carlos password1 dennis slipknot qwerty123 booger asdf 1991 black startrek 12341234 cameron newyork
rainbow nathan john 1992 rocket viking redskins butthead asdfghjkl 1212 sierra peaches gemini doctor
wilson sandra helpme qwertyui victor florida dolphin pookie captain tucker blue liverpool theman bandit
dolphins maddog packers jaguar lovers nicholas united tiffany maxwell zzzzzz nirvana jeremy suckit stupid
porn monica elephant giants jackass hotdog rosebud success debbie mountain 444444 xxxxxxxx warrior
1q2w3e4r5t q1w2e3 123456q albert metallic lucky azerty 7777 shithead alex bond007 alexis 1111111
samson 5150 willie scorpio bonnie gators benjamin voodoo driver dexter 2112 jason calvin freddy 212121
creative 12345a sydney rush2112 1989 asdfghjk red123 bubba 4815162342 passw0rd trouble gunner happy
loveme bubbles 123qweasd marley 123qweasdzxc qwe123 monkey1 iloveyou1 princess1 123abc! sunshine1
charlie1 superman1 michael1 football1 baseball1 dragon1 shadow1 master1 jessica1 ashley1 welcome1
password12 password123 password1234 passw0rd1 p@ssw0rd p@ssword pa55word pa55w0rd admin admin123
administrator root toor changeme changeit default guest user login letmein1 welcome123 qwerty1 abc12345
trustno1 hello123 iloveu iloveyou2 lovely loveyou babygirl babygirl1 princesa mylove myspace myspace1
tinkerbell fuckyou fuckyou1 fuckoff 123456789a 1234567a 0987654321 9876543210 1q2w3e 1qazxsw2
zaq12wsx zaq1zaq1 zxcvbnm1 asdfghjkl1 qwertyuiop1 aa123456 a123456 a12345678 abc123456 qwerty12
qwerty1234 1qaz2wsx3edc 1q2w3e4r5t6y qweasdzxc qweasd 147258369 147258 741852963 963852741 123698745
11223344 112233445566 123123123123 12121212 123451234512345 000000000 0000000000 1111111111 2222222222
5555555555 9999999999 1234512345 1234554321 5201314 woaini 521521 iloveyou123 superstar starstar
secret123 letmein123 monkey123 dragon123 qwerty12345 football123 baseball123 soccer123 hockey123
basketball volleyball softball cheer cheerleader skater skateboard snowboard surfer skiing golf
"""

WORDS = """
access action adventure airborne airplane alabama alaska alexander alfa alien allison alpha alpine
amazing america american andrew angel angelina animal anime apollo apple april arizona arthur asshole
atlanta atlantis august austin autumn avalon awesome azerty babyboy babydoll bacon badass ballet
bamboo banana bandit barbie barcelona baseball basket batman beach bear bears beatles beautiful beauty
beaver beer bella benfica berlin betty beyonce bigboy billy biology birdie birthday biscuit blackcat
blessed blessing blink182 blonde blossom blue bluebird blueberry bluesky bobby bombay bonjour booger
boxer brazil brian britney broncos brooklyn brother brownie bruins bubbles buddy buffalo bulldogs
bullet bumblebee bunny burger butterfly buttercup cactus california camille candy cannon canon captain
cardinal carmen carolina caroline carter casino castle catalina catdog catherine celtic challenge
champion chance chanel charlie charlotte chelsea cherry chester chevy chicken chipper chocolate
chris christian christine christmas cinderella cindy claire clover coconut college colorado
columbia comet condor connor cookie cooper corona cosmos cougar country cowboy crazy creative cricket
crimson cristina cupcake cutie cyber dakota dancer dancing daniel danny darkness darling darkside
death december delta denise denver destiny devil diamond dinosaur disney doctor dodgers dolphin
donald doodle dragonfly dreamer dreams driver dublin duncan eagle eagles easter eclipse edward
einstein electric element elizabeth elvis emerald emily eminem energy england enigma escape eternity
europe everton explorer express falcon family fantasy farmer fashion february fender ferrari fiesta
fighter firebird fireman fishing flamingo florence flower flowers flyers forest fortune france frank
freedom friday friend friends frodo frog frosty gabriel galaxy gangster garden gardenia gemini
genesis georgia german germany ghost giants ginger giraffe girls glitter global goddess godzilla
golden goldfish gondor goodluck google gordon gorgeous grace graphic green greenday gremlin griffin
guardian guitar gundam hacker hailey halloween hamster hannah happiness happy hardcore harley harmony
harrypotter hawaii hawkeye heaven hello helloworld hercules hermione hockey holiday hollywood honda
honey hornet horse hotmail houston hunter hurricane iceman icecream indian indiana infinity inferno
internet ireland isabella island italia jackie jaguar jamaica james january japan jasmine jesus
jesuschrist jonathan joseph journey jupiter justice justin kangaroo karate katie kawasaki kelly
kennedy kevin killer kimberly kingdom kingkong kitten kitty knight kobe24 ladybug lakers lancer
laptop laura lawrence legend legolas lemon leonardo liberty lightning lincoln linkinpark lion
lionking little liverpool lizard lollipop london lonely lovebug lucky lucky7 madonna madrid magic
magnolia magnum mango manchester manutd maradona marathon marcus margarita marina marine mario
marshall martin marvel mary master matrix maverick maximus mcdonalds medicine melody memphis mercury
mermaid metallica mexico miami michigan mickey midnight milano millie minecraft minnie miracle mirage
mississippi molly mommy monday monkey monster montana moon moonlight morgan mother motorola mountain
mozart muffin music mustang myself naruto nascar natalie nathan nature navy nebraska nelson neptune
network newcastle newport newyork nicole nightmare nike ninja nintendo nirvana nissan nothing november
ocean october oklahoma olivia omega online orange oregon orlando oscar pacific paintball pakistan
panama panda pandora panther paradise paris parker passion patches patricia patriots peace peaches
peanut pegasus penguin pepper pepsi perfect phantom phoenix piano pickle picture pikachu pineapple
pinky pioneer pirate pistons playboy playstation please pluto poison police pookie popcorn poohbear
popeye porsche power precious pretty princess psycho pumpkin puppy purple python qwerty rabbit
racecar rachel raiders rainbow ranger rangers raptor raven reading realmadrid rebecca redwings
reggae remember renegade revolution richard river robert robinhood rocket rockstar rocky roller
romance ronaldo rosebud rosemary russia sabrina sailor sakura salvador samantha sammy samsung
samurai sandiego santana sapphire sarah saturn savannah scarface school scooby scorpio scorpion
scotland scrappy secret september serenity service shadow shamrock shannon shelby sherlock shorty
sidney sierra silver simple simpsons skippy skywalker slipknot smile smiley smokey snickers snoopy
snowball snowflake snowman soccer softball soldier sophie spanky sparkle sparrow special spencer
spider spiderman spirit spitfire sponge spongebob spring sprite spurs stanley star starbucks stargate
starlight stars steelers stella stephanie sterling stinky strawberry stronger student sugar summer
sundance sunday sunflower sunny sunset sunshine super superman surfing survivor susan sweet
sweetheart sweetie sweetpea swimming sydney symphony system tennis terminator texas thunder
thursday tiger tigers timber titanic tomcat tommy toronto tottenham toyota tractor travel trinity
triumph trouble trumpet tuesday turkey turtle twilight ultimate undertaker unicorn united universe
valentine vampire vanessa vegeta velvet venus veronica victoria viking vincent violet virginia
voyager warcraft warrior warriors washington water webster wednesday welcome whatever whiskey
wildcat william williams willow wilson windows winner winston winter wisdom wolf wolfpack wolverine
wonder wonderful world wrestling xavier yankee yankees yellow yoda young yugioh zachary zeppelin
zombie
"""

NAMES = """
aaron abigail adam adrian aiden alan albert alejandro alexa alexandra alice alicia alyssa amanda amber
amy ana andrea andres angela angelo anna annie anthony antonio april ariana ashley audrey austin
barbara benjamin bianca blake bobby brandon brenda brittany brooke bryan caitlin caleb cameron carla
carlos carol caroline cassandra catherine cesar chad chelsea christina christopher claudia cody colin
courtney crystal cynthia dale dana daniela danielle david deborah derek diana diego dominic donna
dylan eduardo elena elijah elizabeth ella emily emma eric erica erin ethan eva evan fernando francisco
gabriela gary gavin gloria grace gregory hailey haley heather helen henry ian isaac isabel ivan jack
jacob jacqueline jake jamie jane janet jared jasmine jeffrey jenna jennifer jeremy jesse jessica
jillian joanna joel john jonathan jordan jorge jose joshua juan julia julian juliana justin karen
katherine kathleen kayla keith kelsey kenneth kevin kyle laura lauren leah leonardo lily linda lindsay
logan lucas luis luke madison manuel marco margaret maria mariah marissa mark martha mason matthew
megan melanie melissa mia michael michelle miguel miranda mitchell monica morgan natalie nicholas
nicole noah olivia oscar pablo patrick paul paula peter rafael rebecca ricardo richard riley robert
rodrigo ryan sabrina samuel sandra sara sarah sean sebastian sergio shane shawn sofia stephen steven
susan sydney tanya taylor teresa thomas tiffany timothy travis tyler valeria vanessa veronica
victor victoria vincent william wyatt xavier zoe
"""

PHRASES = """
iloveyou iloveyou2 iloveu2 iloveme ilovegod ilovejesus ilovemom ilovemyself ilovemusic ilovemylife
loveyou loveme lovelove lovely loveya loveu truelove mylove mybaby mylife myheart mypassword
yourpassword thepassword nopassword newpassword oldpassword securepassword strongpassword
supersecret topsecret mysecret opensesame letmeinnow letmein2 welcomehome welcome2 welcometo
changeme123 changethis changepassword password01 password02 password11 password99 passwordpassword
qwertyqwerty asdfasdfasdf qwerasdf qwerasdfzxcv zxcvasdfqwer asdfjkl asdfjkl; qazwsxedcrfv
1qaz2wsx3edc4rfv zaq12wsxcde3 zaq1xsw2cde3 mnbvcxz lkjhgfdsa poiuytrewq ytrewq trewq asdzxc
abcdefg abcdefgh abcdefghi abcdefghij abcdefghijk abcdefghijkl abc123abc abcabc abcabcabc
aaaaaaaaaa aaaaaaaaaaaa qqqqqqqqqq zzzzzzzzzz xxxxxxxxxx
correcthorsebatterystaple tr0ub4dor&3 troubador
godisgood godislove jesussaves jesuslovesme blessed1 faithful heavenly hallelujah amen
thequickbrownfox thequickbrownfoxjumpsoverthelazydog lazydog quickbrownfox
whoareyou whatever1 whatsup nevergiveup neversaynever justdoit nike123 takeiteasy dontknow idontknow
nothing1 noneofyourbusiness none nobody somebody everybody anybody someone everyone
computer1 internet1 windows10 windows7 windowsxp microsoft apple123 iphone android google123
facebook twitter instagram youtube linkedin myspace123 hotmail123 yahoo123 gmail123 outlook
starwars1 starwars123 darthvader lukeskywalker jedi yoda123 chewbacca obiwan hansolo millennium
harrypotter1 hogwarts gryffindor slytherin dumbledore voldemort gandalf1 frodobaggins mordor
batman123 superman123 spiderman1 ironman captainamerica avengers wonderwoman hulk thor loki
pokemon1 pikachu1 charizard naruto1 sasuke goku dragonball onepiece bleach
minecraft1 fortnite roblox callofduty counterstrike worldofwarcraft leagueoflegends zelda mario123
football2 soccer1 basketball1 baseball2 hockey1 tennis1 golf123 nfl nba mlb fifa
manchesterunited manutd1 chelsea1 arsenal1 liverpool1 barcelona1 realmadrid1 juventus bayern
ronaldo7 messi10 neymar beckham zidane pele maradona10
newyork1 london1 paris123 berlin1 tokyo moscow chicago1 boston1 dallas1 texas1 california1 florida1
summer1 summer2024 winter1 spring1 autumn1 monday1 friday1 january1 december1
qwerty7 qwerty11 qwerty01 asdf1234 zxcv1234 1234asdf 1234qwer 4321rewq
abc12345678 a1b2c3d4 a1b2c3 a1s2d3f4 q1w2e3r4t5y6 z1x2c3v4 1a2b3c4d 123abc123 abc123abc123
peergrid energy energie solar solarpower sunpower greenenergy renewable powergrid smartgrid
microgrid battery batteries electricity electric kilowatt megawatt voltage inverter meter
"""

SUFFIXES = ("1", "12", "123", "1234", "12345", "123456", "!", "1!", "123!", "01", "11", "69", "99", "007",
            "2020", "2021", "2022", "2023", "2024", "2025", "2026", "@123", "#1", "123456789")


def build() -> list[str]:
    """The sorted, lower-case list."""
    top = TOP.split()
    words = set(top) | set(WORDS.split()) | set(NAMES.split()) | set(PHRASES.split())
    words |= {" ".join(p.split()) for p in ("correct horse battery staple",)}
    out = set(words)
    for w in top[:120] + WORDS.split()[:60]:
        for s in SUFFIXES:
            out.add(w + s)
    return sorted(x.lower() for x in out if x)


def main() -> None:
    path = Path(__file__).resolve().parent.parent / "src" / "peergrid" / "service" / "common_passwords.txt"
    lines = build()
    header = ("# Common passwords (lower case), refused by the password policy (peergrid.service.auth).\n"
              "# Generated by scripts/make_common_passwords.py from well-known leaked-password lists.\n")
    path.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines)} entries -> {path}")


if __name__ == "__main__":
    main()
